"""The soak's loop: night after night, draw what happens, run the nightly import as cron would, check every
invariant; stop at the first violation with what replays it (the seed and the night: the same seed draws the
same nights)."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tools.soak.events import KINDS, RUN_KINDS, Tonight, draw, happen
from tools.soak.invariants import INVARIANTS, Night, served_pairs
from tools.soak.world import RELEASES, SOURCE, World, close, make_world

# Exit codes a nightly import may end with: 0, 1 (items failed: the mirror away), 2 (a selection to fix: a typo).
EXPECTED_EXITS = {0, 1, 2}


@dataclass
class Report:
    seed: int
    nights: int = 0
    events: Counter[str] = field(default_factory=Counter)
    exits: Counter[int] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    violation: str = ""

    def table(self, seconds: float) -> str:
        lines = [
            f"seed {self.seed}: {self.nights} nights in {seconds:.0f} s ({seconds / max(self.nights, 1):.1f} s a night)"
        ]
        lines += ["", "| event | times |", "| --- | ---: |"]
        lines += [f"| {name} | {self.events[name]} |" for name in [*KINDS, *RUN_KINDS]]
        lines += ["", "| invariant | checks | violations |", "| --- | ---: | ---: |"]
        lines += [f"| {name} | {self.checks[name]} | {self.violations[name]} |" for name in INVARIANTS]
        exits = ", ".join(f"exit {code}: {count}" for code, count in sorted(self.exits.items()))
        return "\n".join([*lines, "", f"nightly imports: {exits}"])


def soak(work: Path, *, nights: int, seed: int) -> Report:
    """Run `nights` nights in a world under `work`; the report, with `violation` set if one was found."""
    rng = random.Random(seed)
    report = Report(seed)
    world = make_world(work)
    history: list[str] = []
    try:
        for night in range(nights + 1):  # night 0: the first import of a fresh server
            said = _night(world, rng, report, night)
            history.append(f"night {night}: " + ("; ".join(said) or "nothing happened"))
            if report.violation:
                report.violation += "\n" + "\n".join(history[-5:])
                report.violation += f"\nreplay: python -m tools.soak --seed {seed} --nights {night}"
                break
            report.nights = night
    finally:
        close(world)
    return report


def _night(world: World, rng: random.Random, report: Report, night: int) -> list[str]:
    for wrong in world.to_fix:  # the operator read yesterday's error and fixes the selection
        world.select(release=wrong, add=False)
    world.typos.clear()
    world.to_fix.clear()
    before, last_run = served_pairs(world.root), world.last_run_id()
    tonight, said = Tonight(), []
    for name in draw(rng, rng.randint(1, 3)) if night else []:
        what = happen(name, world, rng, tonight)
        if what:
            report.events[name] += 1
            said.append(what)
    if tonight.narrowed:
        world.run("--source", SOURCE, "--arch", tonight.narrowed[0], "--release", tonight.narrowed[1])
    if tonight.mirror_away:
        world.server.fail("*", 503)
    outcome = world.run()
    world.server.clear()
    report.exits[outcome.code] += 1
    named = re.search(r"the saved selection names what its source does not offer \(([^)]*)\)", outcome.output)
    world.to_fix = sorted({pair.split("/")[1] for pair in named.group(1).split(", ")} - {RELEASES[0]}) if named else []
    world.to_fix += [t for t in world.typos if t not in world.to_fix]
    if outcome.code not in EXPECTED_EXITS:
        report.violation = f"night {night}: the nightly import exited {outcome.code}:\n{outcome.output[-2000:]}"
        return said
    selected = {pair: opts for pair, opts in world.selected().items() if pair[1] not in world.typos}
    state = Night(
        world.root, before, selected, world.offered, world.changes_since(last_run), world.claimed(),
        reachable=not tonight.mirror_away,
    )  # fmt: skip
    for name, check in INVARIANTS.items():
        report.checks[name] += 1
        found = check(state)
        if found:
            report.violations[name] += len(found)
            report.violation = (
                f"night {night}: {name}: " + "; ".join(found[:5]) + f"\nthe import said:\n{outcome.output[-1500:]}"
            )
    return said
