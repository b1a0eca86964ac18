"""What must hold for the racks after every night, each a named function of what the night left: one sentence
per violation. They read each rack's TFTP root as its tftpd would and the region's Racks page as the admin
does (the region's own `rack_status`), and compare with the region's signed index as published."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pxeimport.racks import CLOCK_SKEW, FAILED, IN_SYNC
from pxeimport.tftproot import TftpRoot
from tools.soak.invariants import (
    Night,
    both_menus_offer_the_same_releases,
    entries_name_verified_files,
    no_partial_file_is_served,
    one_version_per_entry,
    served_loader_has_entries,
    served_loaders_are_verified,
)

# What a rack's root must hold at any time, as the region's must.
WHOLE = (
    entries_name_verified_files,
    served_loaders_are_verified,
    one_version_per_entry,
    both_menus_offer_the_same_releases,
    served_loader_has_entries,
    no_partial_file_is_served,
)

# What a root serves: (arch, release, "" for the loaders) -> ({(file name, SHA-256)}, the entries' kernel options).
Served = dict[tuple[str, str], tuple[frozenset[tuple[str, str]], str]]


@dataclass
class RackView:
    """One rack after the night: what it serves now (fleet.serves), what the harness knows of it, and what the
    region's Racks page says of it ("" when the region has no row: the brokerless rack reports to no one)."""

    name: str
    root: TftpRoot
    up: bool
    clock: str
    serves: Served
    verified: Served
    unsettled: str
    shown: str = ""
    detail: str = ""
    brokerless: bool = False


@dataclass
class RackNight:
    # What the region's current index asks every rack to serve.
    wanted: Served
    racks: list[RackView] = field(default_factory=list)


def describe(served: Served, wanted: Served) -> str:
    """How `served` differs from `wanted`, in a line: what it lacks, what it has beyond, what differs."""
    name = {key: f"{key[0]}/{key[1] or 'loaders'}" for key in [*served, *wanted]}
    lacks = [name[k] for k in sorted(wanted.keys() - served.keys())]
    beyond = [name[k] for k in sorted(served.keys() - wanted.keys())]
    files = [name[k] for k in sorted(served.keys() & wanted.keys()) if served[k][0] != wanted[k][0]]
    options = [
        f"{name[k]} ({served[k][1]!r}, the index {wanted[k][1]!r})"
        for k in sorted(served.keys() & wanted.keys())
        if served[k][1] != wanted[k][1]
    ]
    said = [("lacks", lacks), ("serves beyond it", beyond), ("other files of", files), ("other options on", options)]
    return "; ".join(f"{what} {', '.join(keys)}" for what, keys in said if keys) or "the same"


def racks_serve_the_last_index_they_verified(night: RackNight) -> list[str]:
    """A rack that is up with its clock right serves exactly the region's index (every release, file and
    kernel option); one down, or whose clock is off, serves exactly what it last verified or the index;
    every rack that is up settled (took the index, or reported why not) within the harness's wait."""
    bad = []
    for rack in night.racks:
        if rack.unsettled:
            bad.append(f"rack {rack.name}: {rack.unsettled} ({describe(rack.serves, night.wanted)})")
        elif rack.up and not rack.clock and rack.serves != night.wanted:
            bad.append(f"rack {rack.name} is up, and against the index it {describe(rack.serves, night.wanted)}")
        elif rack.serves not in (rack.verified, night.wanted):
            bad.append(f"rack {rack.name} serves what it never verified: {describe(rack.serves, rack.verified)}")
    return bad


def rack_roots_are_whole(night: RackNight) -> list[str]:
    """Each rack's root holds what the region's must at any moment: menus naming whole, verified files of one
    version per entry, verified loaders with entries, the same releases for BIOS and UEFI, nothing half-made."""
    bad = []
    for rack in night.racks:
        state = Night(rack.root, set(), {}, set())
        bad += [f"rack {rack.name}: {found}" for check in WHOLE for found in check(state)]
    return bad


def racks_page_tells_the_truth(night: RackNight) -> list[str]:
    """The Racks page shows a rack in sync only when it serves the region's index; a rack up with its clock
    right that serves it is shown in sync; a rack whose clock is three hours off, once it has reported, is
    shown with clock skew or failed (never in sync, never behind: its clock is why)."""
    bad = []
    for rack in night.racks:
        if rack.brokerless or not rack.shown:
            continue
        said = f"the Racks page shows rack {rack.name} {rack.shown!r} ({rack.detail[:200]})"
        if rack.shown == IN_SYNC and rack.serves != night.wanted:
            bad.append(f"{said}, and it {describe(rack.serves, night.wanted)}")
        elif rack.up and not (rack.clock or rack.unsettled) and rack.serves == night.wanted and rack.shown != IN_SYNC:
            bad.append(f"{said}, and it serves the index")
        elif rack.up and rack.clock and not rack.unsettled and rack.shown not in (CLOCK_SKEW, FAILED):
            bad.append(f"{said}, and its clock is {rack.clock} off")
    return bad


RackInvariant = Callable[[RackNight], list[str]]
RACK_INVARIANTS: dict[str, RackInvariant] = {
    f.__name__: f for f in (racks_serve_the_last_index_they_verified, rack_roots_are_whole, racks_page_tells_the_truth)
}
