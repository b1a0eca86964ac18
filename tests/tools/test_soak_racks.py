"""The soak's racks (tools/soak/fleet, rackchecks): each rack invariant fires on a rack broken the way it guards
against, what a root serves reads the same as what an index asks, and nights with racks on real RabbitMQ (rack
workers, a brokerless rack, racks down, clocks off) end with none violated."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.utils import timezone

from pxeimport.models import Rack
from pxeimport.publication import LOADER, Publication, PublishedFile, PublishedItem
from tests.support.requirements import require_file, require_rabbitmq
from tools.soak import fleet
from tools.soak.fleet import FAKETIME, RackState, serves
from tools.soak.rackchecks import RACK_INVARIANTS, RackNight, RackView, Served, describe
from tools.soak.run import soak
from tools.soak.world import World

pytestmark = pytest.mark.django_db
# A seed whose first nights take a rack down and set a clock off (both kinds happen by night NIGHTS).
SEED, NIGHTS = 2, 15


def rack(world: World, **changed) -> RackView:
    """A rack up with its clock right, settled, serving what the world's root serves (and shown in sync)."""
    served = serves(world.root)
    view = RackView("r1", world.root, True, "", served, served, "", "in sync", "")
    return dataclasses.replace(view, **changed)


def violated(night: RackNight) -> dict[str, list[str]]:
    return {name: found for name, check in RACK_INVARIANTS.items() if (found := check(night))}


def test_a_rack_serving_the_index_and_shown_in_sync_violates_nothing(world):
    view = rack(world)

    assert violated(RackNight(view.serves, [view])) == {}
    assert {release for _, release in view.serves} == {"", "orchid", "quartz"}  # loaders and both releases


def test_a_rack_that_is_up_and_lacks_a_release_of_the_index_is_found_and_so_is_its_in_sync_on_the_page(world):
    view = rack(world)
    wanted = view.serves | {("amd64", "saffron"): (frozenset({("linux", "0" * 64)}), "")}

    found = violated(RackNight(wanted, [view]))

    assert list(found) == ["racks_serve_the_last_index_they_verified", "racks_page_tells_the_truth"]
    assert "lacks amd64/saffron" in found["racks_serve_the_last_index_they_verified"][0]
    assert "shows rack r1 'in sync'" in found["racks_page_tells_the_truth"][0]


def test_a_rack_whose_entries_lack_the_index_kernel_options_is_found(world):
    view = rack(world)
    wanted = {key: (files, "console=ttyS0" if key[1] else "") for key, (files, _) in view.serves.items()}

    found = violated(RackNight(wanted, [dataclasses.replace(view, shown="behind")]))

    assert list(found) == ["racks_serve_the_last_index_they_verified"]
    assert "other options on amd64/orchid ('', the index 'console=ttyS0')" in found[next(iter(found))][0]


def test_a_rack_down_serves_what_it_last_verified_and_anything_else_is_found(world):
    view = rack(world, up=False, shown="behind")
    newer = view.serves | {("amd64", "saffron"): (frozenset(), "")}
    assert violated(RackNight(newer, [view])) == {}  # down since before saffron: it serves what it verified

    older = {key: value for key, value in view.serves.items() if key[1] != "quartz"}
    found = violated(RackNight(newer, [dataclasses.replace(view, verified=older)]))
    assert list(found) == ["racks_serve_the_last_index_they_verified"]
    assert "serves what it never verified: serves beyond it amd64/quartz" in found[next(iter(found))][0]


def test_a_rack_that_did_not_settle_is_found_whatever_it_serves(world):
    view = rack(world, unsettled="it did not settle within 90 s of the region's import")

    assert list(violated(RackNight(view.serves, [view]))) == ["racks_serve_the_last_index_they_verified"]


def test_a_half_written_file_in_a_racks_root_is_found(world):
    version_dir = (world.root.base_dir("amd64") / "orchid" / "install").resolve()
    (version_dir / ".linux.new-1a2b3c4d").write_bytes(b"half")
    view = rack(world)

    found = violated(RackNight(view.serves, [view]))

    assert list(found) == ["rack_roots_are_whole"] and found["rack_roots_are_whole"][0].startswith("rack r1: ")


def test_the_racks_page_showing_a_rack_that_serves_the_index_as_behind_or_failed_is_found(world):
    for state in ("behind", "failed", "unreachable"):
        view = rack(world, shown=state, detail="lacks amd64/orchid")
        assert list(violated(RackNight(view.serves, [view]))) == ["racks_page_tells_the_truth"]


def test_a_rack_whose_clock_is_off_must_be_shown_with_clock_skew_or_failed_never_in_sync(world):
    view = rack(world, clock="+3h")
    assert list(violated(RackNight(view.serves, [view]))) == ["racks_page_tells_the_truth"]
    for state in ("clock skew", "failed"):
        assert violated(RackNight(view.serves, [dataclasses.replace(view, shown=state)])) == {}


def test_the_brokerless_rack_is_not_judged_by_a_page_that_never_hears_from_it(world):
    view = rack(world, brokerless=True, shown="", detail="")

    assert violated(RackNight(view.serves, [view])) == {}


def test_a_difference_is_said_as_what_is_lacking_beyond_and_other():
    files = frozenset({("linux", "a" * 64)})
    served = {("amd64", "orchid"): (files, ""), ("amd64", ""): (files, "")}
    wanted = {("amd64", "orchid"): (frozenset({("linux", "b" * 64)}), ""), ("i386", "orchid"): (files, "")}

    assert describe(served, wanted) == "lacks i386/orchid; serves beyond it amd64/loaders; other files of amd64/orchid"
    assert describe(served, served) == "the same"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the region's workers and imports are processes: committed rows only
def test_nights_with_rack_workers_a_brokerless_rack_racks_down_and_clocks_off_violate_nothing(tmp_path, settings):
    broker = require_rabbitmq()
    require_file(Path(FAKETIME or "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"), "faketime")
    settings.PXEIMPORT_GRACE_SECONDS = 0

    report = soak(tmp_path, nights=NIGHTS, seed=SEED, broker=broker)

    assert report.violation == "", report.violation
    assert report.events["rack down"] >= 1 and report.events["rack clock off"] >= 1, report.table(0)
    assert all(report.checks[name] == NIGHTS + 1 for name in RACK_INVARIANTS)


def test_a_rack_whose_bios_entries_carry_other_options_than_its_uefi_entries_is_found(world):
    wanted = serves(world.root)
    menu = world.root.base_dir("amd64") / "pxelinux.cfg" / "default"
    menu.write_text("\n".join(f"{line} stale=1" if "APPEND" in line else line for line in menu.read_text().split("\n")))
    view = rack(world)

    found = violated(RackNight(wanted, [view]))

    assert list(found) == ["racks_serve_the_last_index_they_verified", "racks_page_tells_the_truth"]
    assert view.serves[("amd64", "orchid")] == (frozenset(), "pxelinux and GRUB entries differ")


def test_a_rack_whose_menus_name_another_version_dir_than_the_index_is_found_whatever_its_pointer_says(world):
    wanted = serves(world.root)
    release = world.root.base_dir("amd64") / "quartz"
    served = os.readlink(release / "install")
    other = "install-0123456789abcdef"
    shutil.copytree(release / served, release / other)
    (release / other / "linux").chmod(0o644)
    (release / other / "linux").write_bytes(b"an older kernel")
    sums = (release / other / "SHA256SUMS").read_text().split("\n")
    linux = hashlib.sha256(b"an older kernel").hexdigest()
    sums = [f"{linux}  linux" if line.endswith(" linux") else line for line in sums]
    (release / other / "SHA256SUMS").write_text("\n".join(sums))
    for name in ("pxelinux.cfg/default", "grub/grub.cfg"):
        menu = world.root.base_dir("amd64") / name
        menu.write_text(menu.read_text().replace(served, other))

    found = violated(RackNight(wanted, [rack(world)]))

    assert list(found) == ["racks_serve_the_last_index_they_verified", "racks_page_tells_the_truth"]  # it is whole
    assert "other files of amd64/quartz" in found["racks_serve_the_last_index_they_verified"][0]


def index_of(served: Served, opts: str) -> Publication:
    """An index asking for what `served` holds, each release with the kernel options `opts`."""
    items = tuple(
        PublishedItem(arch, LOADER if not release else "install", release, "v2", f"{arch}/{release}/v2/",
                      tuple(PublishedFile(name, sha, 1) for name, sha in sorted(files)), opts if release else "")
        for (arch, release), (files, _) in served.items()
    )  # fmt: skip
    return Publication(datetime.now(UTC), "orchid", items)


def reported(index: Publication, opts: str) -> None:
    """The region's record of rack r1: a finished sync just now, every item of `index` at its version, the
    releases with the kernel options `opts`."""
    now = timezone.now()
    row = Rack.objects.create(name="r1", queue="q", first_seen=now, last_seen=now, last_sync=now)
    for i in index.items:
        row.items.create(arch=i.arch, release=i.release, kind=i.kind, region_version=i.version,
                         kernel_opts=opts if i.release else "", synced=now)  # fmt: skip


def test_the_harness_waits_for_the_report_of_the_sync_that_took_the_index_not_of_one_before(world, monkeypatch):
    # A narrowed run published an index before the nightly one, which changed only kernel options; the rack
    # already serves the nightly index, but the region holds the report of its earlier sync.
    monkeypatch.setattr(fleet, "SETTLE_SECONDS", 0.5)
    index = index_of(serves(world.root), "")
    reported(index, "quiet")
    waiting = RackState("r1", world.root)

    fleet.Fleet(site=None, racks={})._wait(waiting, index, time.time() - 60)  # type: ignore[arg-type]

    assert waiting.unsettled.startswith("it did not settle within 0 s")
    said = "(it serves the index; the Racks page says behind: lacks amd64/orchid (its kernel options)"
    assert said in waiting.unsettled


def test_the_harness_stops_waiting_once_the_region_recorded_the_sync_that_took_the_index(world, monkeypatch):
    monkeypatch.setattr(fleet, "SETTLE_SECONDS", 30.0)
    index = index_of(serves(world.root), "")
    reported(index, "")
    settled = RackState("r1", world.root)
    started = time.monotonic()

    fleet.Fleet(site=None, racks={})._wait(settled, index, time.time() - 60)  # type: ignore[arg-type]

    assert settled.unsettled == "" and time.monotonic() - started < 10
