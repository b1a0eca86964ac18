"""Racks mirror their region exactly, and the Racks page tells the truth: real `rack_worker` and
`region_worker` processes over real RabbitMQ (tools.racksite), a rack under a clock three hours fast
(libfaketime), the region's own code reading its database for the states the admin shows."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.requirements import require_file
from tests.support.tree import base, offered_pairs
from tools.archive import netboot_files
from tools.racksite import Site, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def state(site: Site, rack: str, env: dict[str, str] | None = None) -> str:
    return site.rack_states(env).get(rack, ("absent", ""))[0]


def test_a_rack_serves_exactly_the_pairs_its_region_serves_and_retires_what_the_region_withdrew(site, archive):
    """Debian 13 has no i386 installer: the region serves amd64 x {bookworm, trixie} and i386 x {bookworm}
    (not a cross product); then it stops selecting trixie and i386, and its rack must follow, in sync."""
    for arch, release in (("amd64", "trixie"), ("i386", "bookworm")):
        archive.publish(release, arch, netboot_files(f"{arch}-{release}"))
    site.region_import()
    site.region_import(selection=("--arch", "amd64", "--release", "trixie", "--current-release", "bookworm"))
    site.region_import(selection=("--arch", "i386", "--release", "bookworm", "--current-release", "bookworm"))
    served = {("amd64", "bookworm"), ("amd64", "trixie"), ("i386", "bookworm")}
    assert offered_pairs(site.region_root) == served
    site.start_region_worker()
    site.start_rack("m1")
    rack = site.rack_root("m1")
    wait_until("the rack serves the region's three pairs", lambda: offered_pairs(rack) == served)
    wait_until("the rack reports in sync", lambda: state(site, "m1") == "in sync")

    site.region_saves(["amd64"], ["bookworm"])
    site.region_import(selection=())  # the saved selection: retires amd64/trixie and i386, publishes neither
    assert offered_pairs(site.region_root) == {("amd64", "bookworm")}
    wait_until("the rack retires them too", lambda: offered_pairs(rack) == {("amd64", "bookworm")})
    assert not (base(rack, "i386") / "pxelinux.cfg" / "default").exists()
    wait_until("the rack reports in sync", lambda: state(site, "m1") == "in sync")
    assert site.rack_states()["m1"][1] == ""  # nothing served beyond the index


def test_a_rack_whose_clock_runs_three_hours_fast_takes_every_wake_up_and_is_shown_with_clock_skew(site, archive):
    faketime = require_file(Path(FAKETIME), "faketime")
    site.region_import()
    site.start_region_worker()  # the safety net every hour: only the import's wake-up can bring v2 in time
    clock = {"LD_PRELOAD": str(faketime), "FAKETIME": "+3h"}
    site.start_rack("fast", env=clock)
    wait_until("the rack converges", lambda: site.racks_in_sync(["fast"]))

    archive.publish("bookworm", "amd64", netboot_files("v2"))
    site.region_import()
    wait_until("the import's wake-up brings the rack to v2", lambda: site.racks_in_sync(["fast"]))
    log = (site.tmp / "rack-fast.log").read_text(errors="replace")
    assert "revoked" not in log.lower()
    assert re.search(r"rack fast: converging \(region import\)", log)

    state_now, detail = site.rack_states()["fast"]
    assert state_now == "clock skew" and "ahead of the region's web server" in detail
    offset = float(re.search(r"its clock is (\d+) s", detail).group(1))  # type: ignore[union-attr]
    assert abs(offset - 3 * 3600) < 120
    # Stored by the region's clock: no time in the future on the Racks page.
    (stamp,) = site.region_rows("SELECT last_sync FROM pxeimport_rack WHERE name = 'fast'")[0]
    assert datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC) <= datetime.now(UTC)


def test_a_stopped_rack_is_shown_unreachable_while_the_region_publishes_nothing_new(site):
    site.region_import()
    site.start_region_worker(sync_seconds=4)
    site.start_rack("gone")
    wait_until("the rack converges", lambda: site.racks_in_sync(["gone"]))
    site.stop("rack-gone")
    # The safety net asks every 4 s; a rack silent for more than 3 s after being asked is unreachable.
    env = site.region_env | {"PXEIMPORT_RACK_SYNC_SECONDS": "4", "PXEIMPORT_RACK_ANSWER_SECONDS": "3"}
    said: list[tuple[str, str]] = []

    def unreachable() -> bool:
        said.append(site.rack_states(env).get("gone", ("absent", "")))
        return said[-1][0] == "unreachable"

    wait_until("the Racks page says unreachable", unreachable, 40, 1)
    assert "no answer" in said[-1][1] or "nothing heard" in said[-1][1]
    # It stays so while the safety net keeps asking: each ask does not restart the silence.
    time.sleep(5)
    assert site.rack_states(env)["gone"][0] == "unreachable"

    site.start_rack("gone")  # back: it answers the next wake-up, and is in sync again
    wait_until("the rack is in sync again", lambda: state(site, "gone", env) == "in sync", 40, 1)


def test_two_regions_on_one_broker_with_default_queue_names_keep_their_own_racks(site, tmp_path, archive_server):
    """Each region's queues carry its key id: region A's rack r1 follows A and A's page lists it, and
    region B's rack r1 follows B; neither worker is refused (RESOURCE_LOCKED) by the other."""
    other_tmp = tmp_path / "other"
    other_tmp.mkdir()
    other = Site(other_tmp, archive_server, site.upstream_keyring, site.broker)
    try:
        for each in (site, other):
            each.region_import()
            each.start_region_worker()
            each.start_rack("r1")
        wait_until("each region's rack r1 converges", lambda: all(s.racks_in_sync(["r1"]) for s in (site, other)))
        assert all(process.poll() is None for each in (site, other) for process in each.processes.values())
        for each in (site, other):
            assert each.region_rows("SELECT name, queue FROM pxeimport_rack") == [("r1", each.rack_queue("r1"))]
            served = os.readlink(base(each.rack_root("r1"), "amd64") / "bookworm" / "install")
            assert served == os.readlink(base(each.region_root, "amd64") / "bookworm" / "install")
        assert site.rack_queue("r1") != other.rack_queue("r1")
    finally:
        other.close()


def test_a_stopped_rack_is_not_shown_in_sync_after_the_region_changed_only_its_kernel_options(site):
    """The index names the same files with other kernel options: the stopped rack's menus still carry the old
    ones, so a node booting there gets them; the page says which item it lacks, and why."""
    site.region_saves(["amd64"], ["bookworm"])
    site.region_import(selection=())
    site.start_region_worker()
    site.start_rack("m1")
    wait_until("the rack reports in sync", lambda: state(site, "m1") == "in sync")
    site.stop("rack-m1")

    site.manage("shell", "-v0", "-c", SET_OPTIONS.format(opts="console=ttyS1"), env=site.region_env)
    site.region_import(selection=())

    now, detail = site.rack_states()["m1"]
    assert (now, detail) == ("behind", "lacks amd64/bookworm (its kernel options)")
    site.start_rack("m1")
    wait_until("the rack is in sync again", lambda: state(site, "m1") == "in sync")
    menu = (base(site.rack_root("m1"), "amd64") / "pxelinux.cfg" / "default").read_text()
    assert "console=ttyS1" in menu


SET_OPTIONS = "from pxeimport.models import BootSource; BootSource.objects.update(kernel_opts={opts!r})"
