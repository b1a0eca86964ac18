"""One region, racks following it over real RabbitMQ: each rack a separate `rack_worker` process
(tools.racksite: the region's database read as the admin does, the HTTP servers' logs for bytes)."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from pxeimport.publication import FILES_DIR, INDEX
from pxeimport.racks.tasks import CONVERGE
from tests.support.disk import mount_tmpfs
from tests.support.tftp import BASE, TftpServer, menu_pair
from tests.support.tree import install_dir
from tools.archive import netboot_files
from tools.racksite import Site, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def index_fetches(site: Site) -> int:
    """How many times the region's HTTP server has served its signed index."""
    return sum(1 for r in site.region_http.requests if r.path.endswith(f"/{INDEX}"))


def test_three_racks_converge_pulling_only_what_they_lack_and_no_upstream_byte(site, archive):
    site.region_import()
    upstream_bytes = sum(r.bytes_sent for r in site.upstream.requests)
    site.start_region_worker()
    racks = ["r1", "r2", "r3"]
    for name in racks:
        site.start_rack(name)
    wait_until("every rack serves the region's version", lambda: site.racks_in_sync(racks))
    region_files = install_dir(site.tmp / "region-tftp", "amd64", "bookworm")
    for name in racks:
        served = install_dir(site.rack_root(name), "amd64", "bookworm")
        assert os.readlink(served) == os.readlink(region_files)
        assert (served / "linux").read_bytes() == (region_files / "linux").read_bytes()
    # Racks never reach upstream: its bytes are the region's import alone, for N = 1 as for N = 3.
    assert sum(r.bytes_sent for r in site.upstream.requests) == upstream_bytes
    set_bytes = sum((region_files / n).stat().st_size for n in ("linux", "initrd.gz"))
    loader_bytes = sum(
        p.stat().st_size
        for p in region_files.parent.parent.glob("_loader-*/*")
        if p.name != "SHA256SUMS" and not p.name.startswith(".")  # the manifest and .stat.json are not published
    )
    assert site.file_bytes() == 3 * (set_bytes + loader_bytes)

    # A re-sync with nothing new moves no file byte, and each rack reads the signed index once.
    before, moved, indexes = site.last_syncs(), site.file_bytes(), index_fetches(site)
    done = site.manage("wake_racks", env=site.region_env)
    assert "Asked 3 rack(s)" in done.stdout
    wait_until("every rack reports again", lambda: all(site.last_syncs()[n] != before[n] for n in racks))
    assert site.file_bytes() == moved
    assert index_fetches(site) - indexes == 3

    # An import that changes nothing neither signs the index again nor wakes a rack.
    index = (site.publish_root / INDEX).read_bytes()
    site.region_import()
    assert (site.publish_root / INDEX).read_bytes() == index

    # A new initrd upstream: the region imports it and, on commit, wakes the racks; each pulls the initrd only.
    site.region_http.clear_requests()
    archive.publish("bookworm", "amd64", {**netboot_files("v1"), "initrd.gz": b"a new initrd"})
    site.region_import()
    wait_until("every rack serves the new version", lambda: site.racks_in_sync(racks))
    pulled = [r.path.rsplit("/", 1)[1] for r in site.region_http.requests if f"/{FILES_DIR}/" in r.path]
    assert pulled == ["initrd.gz"] * 3
    for name in racks:  # one wake-up each: the import that changed the index, not the one that did not
        log = (site.tmp / f"rack-{name}.log").read_text(errors="replace")
        assert len(re.findall(r"MainProcess\] rack \S+: converging \(region import\)", log)) == 1, log


def test_a_rack_killed_mid_sync_converges_on_restart_never_serving_a_partial_set(site, archive):
    archive.publish("bookworm", "amd64", netboot_files("big", size=3 << 20))
    site.region_import()
    site.start_region_worker()
    site.region_http.set_rate(1 << 20)  # 1 MiB/s: the sync takes seconds
    site.start_rack("k1")
    staging = site.rack_root("k1") / "maas" / ".staging"
    wait_until("the rack is downloading", lambda: any(p.is_file() for p in staging.rglob("*")), 60)
    site.stop("rack-k1", signal.SIGKILL)
    served = install_dir(site.rack_root("k1"), "amd64", "bookworm")
    # Killed part-way (4 files of 3 MiB at 1 MiB/s each): partial downloads in staging, nothing served.
    assert any(p.is_file() for p in staging.rglob("*"))
    assert not served.exists()
    site.region_http.set_rate(0)
    site.start_rack("k1")
    wait_until("the restarted rack converges", lambda: site.racks_in_sync(["k1"]))
    assert (served / "initrd.gz").read_bytes() == (
        install_dir(site.tmp / "region-tftp", "amd64", "bookworm") / "initrd.gz"
    ).read_bytes()


def test_a_wake_up_purged_from_a_racks_queue_is_made_up_by_the_safety_net(site, archive):
    """A real loss on the real broker: the rack worker stops consuming its durable queue, the region's
    import sends the wake-up into it, the queue is purged, the worker consumes again: only the
    region worker's beat (the safety net, every 8 s here) can bring the rack to the new version."""
    name = "s1"
    queue = site.rack_queue(name)
    site.region_import()
    site.start_region_worker(sync_seconds=8)
    site.start_rack(name)
    wait_until("the rack converges", lambda: site.racks_in_sync([name]))
    assert "no longer consuming" in site.rack_control(name, "cancel_consumer")
    wait_until("the rack's queue has no consumer", lambda: site.queue_state(queue)[1] == 0, 20)

    archive.publish("bookworm", "amd64", netboot_files("v2"))
    site.region_import()  # on commit it wakes every rack: into this one's queue, where nothing consumes
    wake_ups = [i for i, task in site.queued_tasks(queue).items() if task == f"{CONVERGE}: region import"]
    assert len(wake_ups) == 1
    assert site.purge(queue) >= 1  # the wake-up is lost (with any safety net queued meanwhile)
    assert wake_ups[0] not in site.queued_tasks(queue)
    assert not site.racks_in_sync([name])
    log = site.tmp / f"rack-{name}.log"
    seen = len(log.read_text(errors="replace"))

    assert "already consuming" not in site.rack_control(name, "add_consumer")
    wait_until("the safety net brings the rack to v2", lambda: site.racks_in_sync([name]), 60)
    after = log.read_text(errors="replace")[seen:]
    reasons = re.findall(rf"rack {name}: converging \((.*)\)", after)
    assert reasons and set(reasons) == {"safety net"}, after
    assert wake_ups[0] not in log.read_text(errors="replace")  # the purged message never reached the rack


def test_a_tampered_index_is_refused_by_every_rack_which_keeps_serving(site):
    site.region_import()
    site.start_region_worker()
    for name in ("t1", "t2"):
        site.start_rack(name)
    wait_until("both racks converge", lambda: site.racks_in_sync(["t1", "t2"]))
    served = {n: os.readlink(install_dir(site.rack_root(n), "amd64", "bookworm")) for n in ("t1", "t2")}
    index = site.publish_root / INDEX
    index.write_text(index.read_text().replace('"kind": "install"', '"kind": "install" '))
    site.manage("wake_racks", env=site.region_env)

    def refused() -> bool:
        errors = dict(site.region_rows("SELECT name, last_error FROM pxeimport_rack"))
        return all("BAD signature" in str(errors.get(n, "")) for n in ("t1", "t2"))

    wait_until("both racks report the bad signature", refused)
    assert {n: os.readlink(install_dir(site.rack_root(n), "amd64", "bookworm")) for n in ("t1", "t2")} == served


def test_a_rack_whose_disk_is_full_reports_it_and_keeps_booting_its_old_set_while_the_other_converges(site, archive):
    """The full rack's TFTP root is a 1 MiB tmpfs: v1 (4 KiB files) fits, v2 (1 MiB files) does not.
    tftpd-hpa, each on its own port, serves both racks' roots to a TFTP client following the menu."""
    v1, v2 = netboot_files("v1"), netboot_files("v2", size=1 << 20)
    full_root = site.rack_root("f1")
    mount_tmpfs(full_root, "size=1m")
    try:
        site.region_import()
        site.start_region_worker()
        for name in ("f1", "r2"):
            site.start_rack(name)
        wait_until("both racks converge to v1", lambda: site.racks_in_sync(["f1", "r2"]))
        served = os.readlink(install_dir(full_root, "amd64", "bookworm"))

        archive.publish("bookworm", "amd64", v2)
        site.region_import()

        def item_errors(rack: str) -> list[str]:
            sql = "SELECT s.error FROM pxeimport_rackitemstate s JOIN pxeimport_rack r ON s.rack_id = r.id "
            return [str(e) for (e,) in site.region_rows(sql + "WHERE r.name = ? AND s.kind = 'install'", rack)]

        wait_until("the other rack converges to v2", lambda: site.racks_in_sync(["r2"]))
        wait_until("the full rack reports its disk", lambda: any("not enough space" in e for e in item_errors("f1")))
        assert not site.racks_in_sync(["f1"])
        # The Racks page and its banner say why, not only how many items failed.
        assert site.rack_states()["f1"][0] == "failed" and "bytes are free" in site.rack_states()["f1"][1]
        assert os.readlink(install_dir(full_root, "amd64", "bookworm")) == served
        for root, files in ((full_root, v1), (site.rack_root("r2"), v2)):
            with TftpServer(root) as tftp:
                assert tftp.get(f"{BASE}/pxelinux.0") == files["pxelinux.0"]
                kernel, initrd = menu_pair(tftp.get(f"{BASE}/pxelinux.cfg/default").decode(), "bookworm")
                assert tftp.get(f"{BASE}/{kernel}") == files["linux"]
                assert tftp.get(f"{BASE}/{initrd}") == files["initrd.gz"]
    finally:
        if "rack-f1" in site.processes:
            site.stop("rack-f1")
        if subprocess.run(["umount", str(full_root)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(full_root)], capture_output=True)
