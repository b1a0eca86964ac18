"""The soak's loop: night after night, draw what happens, run the nightly import as cron would, check every
invariant; stop at the first violation with what replays it (the seed and the night: the same seed draws the
same nights)."""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.soak.events import KINDS, RACK_KINDS, RUN_KINDS, Tonight, draw, happen
from tools.soak.fleet import Fleet, make_fleet
from tools.soak.invariants import INVARIANTS, Night, served_pairs
from tools.soak.rackchecks import RACK_INVARIANTS
from tools.soak.world import EXTRA, RELEASES, SOURCE, World, close, make_world

# What must hold at any moment, a killed run's leftovers included.
MIDNIGHT = ("entries_name_verified_files", "served_loaders_are_verified", "one_version_per_entry")


@dataclass
class Report:
    seed: int
    nights: int = 0
    events: Counter[str] = field(default_factory=Counter)
    exits: Counter[int] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    violation: str = ""
    killed_running: int = 0
    racks: bool = False
    # The night a SIGINT or SIGTERM stopped the soak at (None: it was not stopped).
    interrupted: int | None = None
    # Why no rack's clock could be set off ("" when one could).
    no_clock: str = ""
    # Whether nights could fill the TFTP root's disk (its own tmpfs: the soak runs as root).
    disk: bool = False

    def table(self, seconds: float) -> str:
        racks = "a region and three racks (two on RabbitMQ, one brokerless)" if self.racks else "no racks"
        lines = [
            f"seed {self.seed}: {self.nights} nights in {seconds:.0f} s ({seconds / max(self.nights, 1):.1f} s a night)"
            f", after night 0 (the first import of a fresh server); {racks}"
        ]
        lines += ["", "| event | times |", "| --- | ---: |"]
        kinds = [*KINDS, *RUN_KINDS, *(RACK_KINDS if self.racks else ())]
        lines += [f"| {name} | {self.events[name]} |" for name in kinds]
        lines += ["", "| invariant | checks | violations |", "| --- | ---: | ---: |"]
        checks = [*INVARIANTS, *(RACK_INVARIANTS if self.racks else ())]
        lines += [f"| {name} | {self.checks[name]} | {self.violations[name]} |" for name in checks]
        exits = ", ".join(f"exit {code}: {count}" for code, count in sorted(self.exits.items()))
        kills = f"kills that hit a running import: {self.killed_running} of {self.events['import killed mid-run']}"
        allowed = "" if self.violation else " (each night's code was one its events allow)"
        lines += ["", f"nightly imports: {exits}{allowed}", kills]
        if not self.disk:
            lines.append("disk full: never (the soak may not mount a tmpfs for the TFTP root: run it as root)")
        if self.racks and self.no_clock:
            lines.append(f"rack clock off: never ({self.no_clock})")
        if self.interrupted is not None:
            lines.append(f"stopped by a signal during night {self.interrupted}: the nights before it are counted")
        return "\n".join(lines)


def soak(work: Path, *, nights: int, seed: int, broker: str = "") -> Report:
    """Run `nights` nights in a world under `work`; the report, with `violation` set if one was found.
    `broker`: RabbitMQ's URL for the racks (tools.soak.fleet); "" runs the server alone, with no racks."""
    rng = random.Random(seed)
    report = Report(seed, racks=bool(broker))
    world = make_world(work)
    report.disk = world.disk is not None
    history: list[str] = []
    night, fleet = 0, None
    try:
        fleet = make_fleet(world, work, broker) if broker else None
        report.no_clock = fleet.no_clock() if fleet is not None else ""
        for night in range(nights + 1):  # night 0: the first import of a fresh server
            said = _night(world, fleet, rng, report, night)
            history.append(f"night {night}: " + ("; ".join(said) or "nothing happened"))
            if report.violation:
                report.violation += "\n" + "\n".join(history[-5:])
                flags = "" if broker else " --no-racks"
                report.violation += f"\nreplay: python -m tools.soak --seed {seed} --nights {night}{flags}"
                break
            report.nights = night
    except KeyboardInterrupt:  # SIGINT, or SIGTERM (tools.soak.__main__): the table of the nights done
        report.interrupted = night
    finally:
        try:
            if fleet is not None:
                fleet.site.close()
        finally:
            close(world)
    return report


def _night(world: World, fleet: Fleet | None, rng: random.Random, report: Report, night: int) -> list[str]:
    for wrong in world.to_fix:  # the operator read yesterday's error and fixes the selection
        world.select(release=wrong, add=False)
    world.typos.clear()
    world.to_fix.clear()
    world.fix_overnight()
    world.next_day()
    before, last_run = served_pairs(world.root), world.last_run_id()
    tonight, said = Tonight(), []
    for name in draw(rng, rng.randint(1, 3)) if night else []:
        if name in RACK_KINDS:  # drawn whether racks run or not, so a seed draws the same nights either way
            pick, length, ahead = rng.random(), rng.randint(1, 5), rng.random() < 0.5
            what = "" if fleet is None else fleet.happen(name, night, pick, length, ahead)
        else:
            what = happen(name, world, rng, tonight)
        if what:
            report.events[name] += 1
            said.append(what)
    since = time.time()  # the region's clock before tonight's first import
    if tonight.killed_after is not None:
        report.killed_running += world.kill_mid_run(tonight.killed_after)
        killed = Night(world.root, before, {}, world.offered)
        # What a node may meet right after the kill, before anything cleans up.
        if _check(report, killed, {n: INVARIANTS[n] for n in MIDNIGHT}, f"night {night}, right after the kill"):
            return said
    if tonight.narrowed:
        arch, release = tonight.narrowed
        by_hand = world.run("--source", SOURCE, "--arch", arch, "--release", release)
        _stopped(by_hand.code)
        if by_hand.code not in ({0, 1} if world.dead_mirror_of else {0}):  # 1: the source's mirror is dead
            report.violation = f"night {night}: the narrowed run exited {by_hand.code}:\n{by_hand.output[-2000:]}"
            return said
    # A release withdrawn after its replay was drawn tonight has no Release left to replay.
    gone = [r for r in tonight.replayed if len(world.signed.get(r, ())) < 2]
    report.events["older Release replayed"] -= len(gone)
    tonight.replayed = [r for r in tonight.replayed if r not in gone]
    said += [f"no replay of {release}: it left the mirror tonight" for release in gone]
    for release in tonight.replayed:
        world.replay(release)
    if tonight.mirror_away:
        for server in (world.server, world.other):
            if server is not None:
                server.fail("*", 503)
    if tonight.disk_full:
        world.fill_disk()
    away = tonight.mirror_away or bool(world.dead_mirror_of) or tonight.disk_full
    expected = {0} | ({1} if away or tonight.replayed else set())
    # A selection to fix, or a disk too full to take the TFTP root's lock, is exit 2: nothing could be done.
    expected |= {2} if world.typos or not set(world.selected()) <= world.offered or tonight.disk_full else set()
    outcome = world.run()
    _stopped(outcome.code)
    for server in (world.server, world.other):
        if server is not None:
            server.clear()
    world.free_disk()
    for release in tonight.replayed:
        world.unreplay(release)
    report.exits[outcome.code] += 1
    named = re.search(r"the saved selection names what its source does not offer \(([^)]*)\)", outcome.output)
    world.to_fix = sorted({pair.split("/")[1] for pair in named.group(1).split(", ")} - {RELEASES[0]}) if named else []
    world.to_fix += [t for t in world.typos if t not in world.to_fix]
    if outcome.code not in expected:
        report.violation = (
            f"night {night}: the nightly import exited {outcome.code} (expected: {sorted(expected)}):\n"
            + outcome.output[-2000:]
        )
        return said
    clash = f"amd64/{world.claimed_twice} is claimed by boot sources {SOURCE!r}, {EXTRA!r}: {SOURCE!r} feeds it"
    # Both still claim it tonight (the operator may have unselected it from the soak's source since).
    both = world.claimed_twice in world.selected_releases() and "amd64" in world.selected_arches()
    if world.claimed_twice and both and outcome.code != 2 and clash not in outcome.output:
        report.violation = f"night {night}: the nightly import did not say {clash!r}:\n{outcome.output[-2000:]}"
        return said
    selected = {pair: opts for pair, opts in world.selected().items() if pair[1] not in world.typos}
    state = Night(
        world.root, before, selected, world.offered, world.changes_since(last_run), world.claimed(),
        reachable=not away, menus_writable=not tonight.disk_full, replayed=set(tonight.replayed),
        upstream=world.upstream_sha256(),
    )  # fmt: skip
    violated = _check(report, state, INVARIANTS, f"night {night}")
    if fleet is not None and not violated:
        fleet.settle(night, since)
        violated = _check(report, fleet.night(night), RACK_INVARIANTS, f"night {night}")
    if violated:
        report.violation += f"\nthe import said:\n{outcome.output[-1500:]}"
    return said


def _stopped(code: int) -> None:
    """KeyboardInterrupt when an import exited as a signal stopped it (128 + SIGINT or SIGTERM): the soak was
    told to stop (the in-process import takes the signal while it runs), not a night that went wrong."""
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        raise KeyboardInterrupt


def _check(report: Report, state: Any, checks: Mapping[str, Callable[[Any], list[str]]], when: str) -> bool:
    """Check `checks` on `state` (a Night, or a RackNight for the rack invariants), count them; whether any was
    violated (all are said)."""
    said = []
    for name, check in checks.items():
        report.checks[name] += 1
        found = check(state)
        if found:
            report.violations[name] += len(found)
            said.append(f"{when}: {name}: " + "; ".join(found[:5]))
    report.violation = "\n".join(said)
    return bool(said)
