"""The kinds of thing that happen to a provisioning server between two nightly imports, with weights.

Each kind is a function of the world and the night's random generator that changes the upstream, the
saved selection, or how the night's import runs, and says in one line what it did (for the replay); a
kind that cannot happen in the world as it is (nothing left to withdraw) says "" and is not counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.soak.world import ARCHES, DEAD_MIRROR, EXTRA, RELEASES, World

Kind = Callable[[World, random.Random], str]


@dataclass
class Tonight:
    """How the night's import runs: its flags, set by the kinds before it starts."""

    mirror_away: bool = False
    narrowed: tuple[str, str] | None = None
    # Seconds into a run of the nightly command (its own process) at which it is killed with SIGKILL.
    killed_after: float | None = None
    # Releases whose previous signed Release the mirror serves tonight.
    replayed: list[str] = field(default_factory=list)
    # The TFTP root's filesystem is full during the nightly import (another program filled it).
    disk_full: bool = False


def point_release(world: World, rng: random.Random) -> str:
    arch, release = rng.choice(sorted(world.offered))
    world.publish(arch, release, kernel=True, loader=rng.random() < 0.3)
    return f"upstream publishes a new kernel and initrd of {arch}/{release}"


def loader_update(world: World, rng: random.Random) -> str:
    offered = sorted(a for a, r in world.offered if r == RELEASES[0])
    if not offered:
        return ""
    arch = rng.choice(offered)
    world.publish(arch, RELEASES[0], kernel=False, loader=True)
    return f"upstream publishes new loaders of {arch}/{RELEASES[0]}"


def new_release(world: World, rng: random.Random) -> str:
    unpublished = [r for r in RELEASES if not any(rr == r for _, rr in world.offered)]
    if not unpublished:
        return ""
    release = unpublished[0]
    for arch in ARCHES:
        world.publish(arch, release, loader=True)
    return f"upstream adds release {release}"


def withdrawn_upstream(world: World, rng: random.Random) -> str:
    candidates = sorted((a, r) for a, r in world.offered if r != RELEASES[0])
    if not candidates:
        return ""
    arch, release = rng.choice(candidates)
    world.withdraw(arch, release)
    return f"upstream withdraws {arch}/{release}"


def release_selected(world: World, rng: random.Random) -> str:
    choices = [r for r in RELEASES if r not in world.selected_releases()]
    if not choices:
        return ""
    release = rng.choice(choices)
    world.select(release=release)
    return f"the operator selects release {release}"


def release_unselected(world: World, rng: random.Random) -> str:
    choices = [r for r in world.selected_releases() if r != RELEASES[0] and r not in world.typos]
    if not choices:
        return ""
    release = rng.choice(choices)
    world.select(release=release, add=False)
    return f"the operator unselects release {release}"


def arch_selected(world: World, rng: random.Random) -> str:
    choices = [a for a in ARCHES if a not in world.selected_arches()]
    if not choices:
        return ""
    world.select(arch=choices[0])
    return f"the operator selects arch {choices[0]}"


def arch_unselected(world: World, rng: random.Random) -> str:
    choices = [a for a in world.selected_arches() if a != "amd64"]
    if not choices:
        return ""
    world.select(arch=choices[0], add=False)
    return f"the operator unselects arch {choices[0]}"


def kernel_options_edited(world: World, rng: random.Random) -> str:
    source = world.source
    source.kernel_opts = rng.choice(
        ["", "console=ttyS0,115200", "quiet", f"priority=critical soak={rng.randrange(99)}"]
    )
    source.save()
    return f"the operator sets the source's kernel options to {source.kernel_opts!r}"


def typo(world: World, rng: random.Random) -> str:
    real = rng.choice(world.selected_releases())
    wrong = real[:-2] + real[-1] + real[-2]
    if wrong == real or wrong in RELEASES:
        return ""
    world.select(release=wrong)
    world.typos.append(wrong)
    return f"the operator selects {wrong!r}, meaning {real!r}"


def other_mirror(world: World, rng: random.Random) -> str:
    now = world.source.url
    url = next(u for u in world.mirrors() if u != now) if now in world.mirrors() else world.mirrors()[0]
    world.point_at(url)
    return f"the operator points the source at the other mirror ({url})"


def dead_mirror(world: World, rng: random.Random) -> str:
    if world.dead_mirror_of:
        return ""
    world.dead_mirror_of = world.source.url
    world.point_at(DEAD_MIRROR)
    return f"the operator points the source at a mirror that is not there ({DEAD_MIRROR})"


def claimed_twice(world: World, rng: random.Random) -> str:
    if world.claimed_twice:
        return ""
    release = rng.choice([r for r in world.selected_releases() if r not in world.typos])
    world.claim_twice(release)
    return f"a second enabled source ({EXTRA!r}) selects amd64/{release} too"


KINDS: dict[str, tuple[int, Kind]] = {
    "point release": (8, point_release),
    "loader update": (3, loader_update),
    "new release": (2, new_release),
    "withdrawn upstream": (2, withdrawn_upstream),
    "release selected": (3, release_selected),
    "release unselected": (2, release_unselected),
    "arch selected": (1, arch_selected),
    "arch unselected": (1, arch_unselected),
    "kernel options edited": (2, kernel_options_edited),
    "typo in the selection": (1, typo),
    "source on another mirror": (1, other_mirror),
    "source on a dead mirror": (1, dead_mirror),
    "two sources claim a release": (1, claimed_twice),
}
# Kinds that change how tonight's import runs rather than the world.
RUN_KINDS = {
    "mirror away": 1,
    "narrowed run by hand": 2,
    "import killed mid-run": 2,
    "older Release replayed": 1,
    "disk full": 1,
}
# Kinds that happen to the racks (tools.soak.fleet); drawn with the rest, and without racks not counted.
RACK_KINDS = {"rack down": 1, "rack clock off": 1}


def draw(rng: random.Random, count: int) -> list[str]:
    """`count` kind names, by weight, world and run kinds together."""
    names = [*KINDS, *RUN_KINDS, *RACK_KINDS]
    weights = [*(w for w, _ in KINDS.values()), *RUN_KINDS.values(), *RACK_KINDS.values()]
    return rng.choices(names, weights=weights, k=count)


def happen(name: str, world: World, rng: random.Random, tonight: Tonight) -> str:
    """Make the kind `name` happen; what it did, "" when it could not (a rack kind: by the fleet, not here)."""
    if name in RACK_KINDS:
        return ""
    if name == "mirror away":
        if tonight.mirror_away:
            return ""
        tonight.mirror_away = True
        return "the mirror is unreachable during the nightly import"
    if name == "disk full":
        if tonight.disk_full or world.disk is None:
            return ""
        tonight.disk_full = True
        return "the TFTP root's filesystem is full during the nightly import"
    if name == "import killed mid-run":
        if tonight.killed_after is not None:
            return ""
        tonight.killed_after = rng.uniform(0.05, 0.6)  # one import here takes about 0.3 s
        return f"an import is killed with SIGKILL {tonight.killed_after:.2f} s after it started"
    if name == "older Release replayed":
        stale = sorted(r for r, signed in world.signed.items() if len(signed) > 1)
        if not stale:
            return ""
        release = rng.choice(stale)
        if release in tonight.replayed:
            return ""
        tonight.replayed.append(release)
        return f"the mirror serves {release}'s previous signed Release tonight"
    if name == "narrowed run by hand":
        pairs = sorted(p for p in world.selected() if p[1] not in world.typos and p in world.offered)
        if not pairs or tonight.narrowed:
            return ""
        tonight.narrowed = rng.choice(pairs)
        return f"the operator runs an import narrowed to {tonight.narrowed[0]}/{tonight.narrowed[1]} by hand"
    return KINDS[name][1](world, rng)
