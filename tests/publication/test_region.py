"""A region publishes what it imported, signed; a rack imports it with `--layout region`, end to end.

Real gpg makes the region's key, real gpgv checks it on the rack, a real HTTP server on loopback
serves the publish root (links into the region's TFTP root), both sides run import_pxe_files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.layouts import index_given
from pxeimport.menus import MenuSettings
from pxeimport.models import ImportRun
from pxeimport.publication import FILES_DIR, HISTORY, INDEX, RegionKey, RegionKeyError
from pxeimport.racks import RackConfig, converge
from pxeimport.runs import publishing
from pxeimport.tftproot import TftpRoot
from tests.support.commands import CommandResult
from tests.support.nginx import running_nginx, site_with
from tests.support.region import run
from tests.support.requirements import gpg_agents, require_tool
from tests.support.selection import import_files, saved_source
from tests.support.tree import base, install_dir, offered_pairs
from tests.support.web import free_port, wait_for
from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer
from tools.racksite import wait_until

pytestmark = pytest.mark.django_db

SELECTION = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


@dataclass
class Region:
    """A region (its TFTP root, publish root served on loopback, key) and one rack's TFTP root."""

    tftp_root: Path
    publish_root: Path
    server: ArchiveServer
    keyring: Path
    rack_root: Path
    upstream: str
    upstream_keyring: Path
    settings: pytest.FixtureRequest
    gnupghome: Path

    def publishing(self, on: bool) -> None:
        self.settings.PXEIMPORT_PUBLISH_ROOT = self.publish_root if on else None  # type: ignore[attr-defined]

    def region_import(self, *extra: str) -> CommandResult:
        self.publishing(True)
        args = ("--archive", self.upstream, "--keyring", str(self.upstream_keyring), "--tftproot", str(self.tftp_root))
        return run(*args, *SELECTION, *extra)

    def rack_import(self, rack_root: Path | None = None) -> CommandResult:
        self.publishing(False)  # a rack publishes nothing
        args = ("--layout", "region", "--archive", self.server.url, "--keyring", str(self.keyring))
        return run(*args, "--tftproot", str(rack_root or self.rack_root), *SELECTION)


@pytest.fixture
def region(tmp_path: Path, archive: ArchiveTree, archive_server: ArchiveServer, signer, settings) -> Iterator[Region]:
    require_tool("gpg")
    publish_root = tmp_path / "publish"
    publish_root.mkdir()
    settings.PXEIMPORT_REGION_GNUPGHOME = tmp_path / "region-gnupg"
    settings.PXEIMPORT_PUBLISH_URL = "http://127.0.0.1/"
    settings.CELERY_BROKER_URL = ""
    keyring = tmp_path / "region.gpg"
    call_command("export_region_keyring", str(keyring), stdout=StringIO())
    with ArchiveServer(publish_root) as server:
        yield Region(
            tmp_path / "region-tftp",
            publish_root,
            server,
            keyring,
            tmp_path / "rack-tftp",
            archive_server.url + "dists/",
            signer.keyring,
            settings,
            settings.PXEIMPORT_REGION_GNUPGHOME,
        )


def file_bytes_sent(server: ArchiveServer) -> int:
    return sum(r.bytes_sent for r in server.requests if f"/{FILES_DIR}/" in r.path)


def test_a_rack_serves_the_regions_files_under_the_regions_version_ids(archive, region):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert region.region_import().code == 0
    index = (region.publish_root / INDEX).read_text()
    assert index.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    result = region.rack_import()
    assert result.code == 0, result.stderr
    rack, home = install_dir(region.rack_root, "amd64", "bookworm"), install_dir(region.tftp_root, "amd64", "bookworm")
    assert (rack / "linux").read_bytes() == files["linux"]
    assert (rack / "initrd.gz").read_bytes() == files["initrd.gz"]
    assert os.readlink(rack) == os.readlink(home)
    assert (base(region.rack_root, "amd64") / "pxelinux.0").read_bytes() == files["pxelinux.0"]
    assert "install-" in (base(region.rack_root, "amd64") / "pxelinux.cfg" / "default").read_text()


def test_making_the_key_and_signing_leave_no_gpg_agent_running_for_the_regions_gnupghome(archive, region):
    """gpg starts an agent for the secret key; a region's import (cron) must not leave it behind."""
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0  # the fixture made the key with export_region_keyring; this signs
    assert (region.publish_root / INDEX).is_file()
    wait_until("the region's gpg-agent exits", lambda: not gpg_agents(region.gnupghome), 10)


def test_a_region_key_whose_secret_is_gone_is_an_error_not_a_second_key(region, tmp_path):
    key = RegionKey(region.gnupghome)
    first = key.fingerprint()
    shutil.rmtree(region.gnupghome / "private-keys-v1.d")
    with pytest.raises(RegionKeyError, match="no new key is made"):
        key.clearsign(b"an index\n")
    assert key._fingerprints("--list-keys", "pub") == [first]


def test_the_index_lists_each_file_with_its_hash_and_size(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1", size=5000))
    assert region.region_import().code == 0
    text = (region.publish_root / INDEX).read_text()
    signed = json.loads(text[text.index("{") : text.rindex("}") + 1])
    install = next(i for i in signed["items"] if i["kind"] == "install")
    assert install["release"] == "bookworm" and len(install["version"]) == 16
    assert {f["name"]: f["size"] for f in install["files"]} == {"linux": 5000, "initrd.gz": 5000}
    assert (region.publish_root / install["path"] / "linux").stat().st_size == 5000
    assert signed["date"]


def test_a_resync_with_nothing_new_moves_no_file_byte(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    assert region.rack_import().code == 0
    assert file_bytes_sent(region.server) > 0
    region.server.clear_requests()
    assert region.rack_import().code == 0
    assert file_bytes_sent(region.server) == 0
    # Only the signed index, fetched whole as every root index is (no server's 304 is believed).
    assert [(r.path.rsplit("/", 1)[-1], r.status) for r in region.server.requests] == [("index.asc", 200)]


def test_a_rack_fetches_only_the_file_that_changed(archive, region):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert region.region_import().code == 0
    assert region.rack_import().code == 0
    region.server.clear_requests()
    archive.publish("bookworm", "amd64", {**files, "initrd.gz": b"a new initrd"})
    assert region.region_import().code == 0
    assert region.rack_import().code == 0
    fetched = [r.path.rsplit("/", 1)[1] for r in region.server.requests if f"/{FILES_DIR}/" in r.path]
    assert fetched == ["initrd.gz"]
    assert (install_dir(region.rack_root, "amd64", "bookworm") / "initrd.gz").read_bytes() == b"a new initrd"


def test_the_regions_menu_options_reach_the_racks_menus(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import("--kernel-opts", "console=ttyS0,115200").code == 0
    assert region.rack_import().code == 0
    menu = (base(region.rack_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    assert "console=ttyS0,115200" in menu


def test_a_tampered_file_on_the_region_is_refused_and_the_old_set_stays(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    assert region.rack_import().code == 0
    before = os.readlink(install_dir(region.rack_root, "amd64", "bookworm"))
    archive.publish("bookworm", "amd64", netboot_files("v2"))
    assert region.region_import().code == 0
    served = install_dir(region.tftp_root, "amd64", "bookworm") / "linux"
    os.chmod(served, 0o644)
    served.write_bytes(b"tampered on the region's HTTP side")
    result = region.rack_import()
    assert result.code == 1
    assert "SHA-256" in result.stderr or "sha256" in result.stderr.lower()
    assert os.readlink(install_dir(region.rack_root, "amd64", "bookworm")) == before


def test_a_tampered_index_is_refused(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    index = region.publish_root / INDEX
    index.write_text(index.read_text().replace('"kind": "install"', '"kind": "install" '))
    result = region.rack_import()
    assert result.code == 1
    assert "BAD signature" in result.stderr
    assert not install_dir(region.rack_root, "amd64", "bookworm").exists()


def test_an_index_handed_to_the_import_is_not_fetched_again_but_checked_as_if_it_were(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    tampered = (region.publish_root / INDEX).read_text().replace('"kind": "install"', '"kind": "install" ')
    region.server.clear_requests()
    with index_given(region.server.url, tampered.encode()):
        result = region.rack_import()
    assert result.code == 1
    assert "BAD signature" in result.stderr
    assert not [r for r in region.server.requests if r.path.endswith(INDEX)]


def test_an_index_signed_by_another_key_is_refused(archive, region, signer):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    region.keyring = signer.keyring  # the rack trusts the upstream's key, not the region's
    result = region.rack_import()
    assert result.code == 1
    assert "not in the keyring" in result.stderr


def test_an_older_index_served_again_is_refused_as_a_replay(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    old = (region.publish_root / INDEX).read_bytes()
    archive.publish("bookworm", "amd64", netboot_files("v2"))
    assert region.region_import().code == 0
    assert region.rack_import().code == 0
    (region.publish_root / INDEX).write_bytes(old)
    result = region.rack_import()
    assert result.code == 1
    assert "older than the index already trusted" in result.stderr


def test_a_replayed_older_index_retires_nothing_on_a_rack_mirroring_it(archive, region):
    """Found by the soak (a rack whose clock was three hours behind): the index that chose what a rack mirrors,
    and so what it retires, was checked for its signature but not its Date; the items were refused as stale or
    not valid yet, but what that index did not list was retired all the same."""
    for release in ("bookworm", "trixie"):
        archive.publish(release, "amd64", netboot_files(f"amd64-{release}"))
    saved = saved_source(region.upstream, region.upstream_keyring, releases=("bookworm",))
    region.publishing(True)
    assert import_files(region.tftp_root).code == 0
    older = (region.publish_root / INDEX).read_bytes()  # lists bookworm alone
    saved.releases.create(name="trixie")
    region.publishing(True)
    assert import_files(region.tftp_root).code == 0
    assert mirror(region).code == 0 and offered_pairs(region.rack_root) == {("amd64", "bookworm"), ("amd64", "trixie")}

    (region.publish_root / INDEX).write_bytes(older)
    result = mirror(region)

    assert result.code == 1 and "older than the index already trusted" in result.stderr
    assert "nothing done, what is served stays" in result.stderr
    assert offered_pairs(region.rack_root) == {("amd64", "bookworm"), ("amd64", "trixie")}


def test_the_paths_the_index_on_disk_names_stay_published_when_no_history_remembers_them(archive, region):
    """Found by the soak: a region import killed after it wrote its index but before it remembered it left the
    next run's prune (which read only the history) to unlink every path that index named: racks got 404s."""
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    (region.publish_root / HISTORY).unlink()  # what that killed run never wrote

    assert region.region_import().code == 0  # nothing new: the index stays, and so must its paths
    result = region.rack_import()

    assert result.code == 0, result.stderr
    assert offered_pairs(region.rack_root) == {("amd64", "bookworm")}


@pytest.mark.parametrize(("keep_seconds", "kept"), [(3600, True), (0, False)])
def test_the_regions_clean_up_keeps_versions_a_recent_index_names(archive, region, settings, keep_seconds, kept):
    """With a keep window, v1 (named by an index published moments ago, which a rack mid-sync may
    still be fetching from) outlives a zero grace period; without one, the grace period alone decides."""
    settings.PXEIMPORT_GRACE_SECONDS = 0
    settings.PXEIMPORT_PUBLISH_KEEP_SECONDS = keep_seconds
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    first = os.readlink(install_dir(region.tftp_root, "amd64", "bookworm"))
    for tag in ("v2", "v3"):
        archive.publish("bookworm", "amd64", netboot_files(tag))
        assert region.region_import().code == 0
    release_dir = install_dir(region.tftp_root, "amd64", "bookworm").parent
    assert (release_dir / first).is_dir() is kept
    assert (region.publish_root / FILES_DIR / "amd64" / "bookworm" / first).is_symlink() is kept


def test_a_region_layout_run_naming_an_arch_but_no_release_is_a_usage_error(region):
    region.publishing(False)
    args = ("--layout", "region", "--archive", region.server.url, "--keyring", str(region.keyring), "--arch", "amd64")
    result = run(*args, "--tftproot", str(region.rack_root))
    assert result.code == 2
    assert "give both --arch and --release (a run narrowed to those), or neither" in result.stderr


def mirror(region: Region) -> CommandResult:
    """The rack's run as rack_worker and converge_rack make it: --layout region, no --arch or --release."""
    region.publishing(False)
    args = ("--layout", "region", "--archive", region.server.url, "--keyring", str(region.keyring))
    return run(*args, "--tftproot", str(region.rack_root))


def test_a_rack_mirrors_exactly_the_pairs_its_regions_index_lists_not_their_cross_product(archive, region):
    """Debian 13 has no i386 installer: the region serves amd64 x {bookworm, trixie} and i386 x {bookworm}."""
    for arch, release in (("amd64", "bookworm"), ("amd64", "trixie"), ("i386", "bookworm")):
        archive.publish(release, arch, netboot_files(f"{arch}-{release}"))
    assert region.region_import().code == 0  # amd64 bookworm
    assert region.region_import("--arch", "amd64", "--release", "trixie").code == 0
    assert region.region_import("--arch", "i386", "--release", "bookworm").code == 0

    result = mirror(region)
    assert result.code == 0, result.stderr
    assert offered_pairs(region.rack_root) == {("amd64", "bookworm"), ("amd64", "trixie"), ("i386", "bookworm")}
    assert offered_pairs(region.rack_root) == offered_pairs(region.tftp_root)


def test_a_rack_retires_what_its_region_stopped_selecting_and_the_region_stops_publishing_it_at_once(
    archive, region, settings
):
    settings.PXEIMPORT_GRACE_SECONDS = 3600  # the region's retired files wait an hour: not published meanwhile
    for arch in ("amd64", "i386"):
        for release in ("bookworm", "trixie"):
            archive.publish(release, arch, netboot_files(f"{arch}-{release}"))
    saved = saved_source(region.upstream, region.upstream_keyring, arches=("amd64", "i386"))
    region.publishing(True)
    assert import_files(region.tftp_root).code == 0
    assert mirror(region).code == 0
    assert len(offered_pairs(region.rack_root)) == 4

    saved.arches.filter(name="i386").delete()
    saved.releases.filter(name="trixie").delete()
    region.publishing(True)
    assert import_files(region.tftp_root).code == 0
    listed = {(i["arch"], i["release"]) for i in published_items(region)}
    assert listed == {("amd64", ""), ("amd64", "bookworm")}  # trixie and i386 are retired, still on disk
    assert install_dir(region.tftp_root, "amd64", "trixie").is_dir()

    settings.PXEIMPORT_GRACE_SECONDS = 0  # the rack's own grace period: the next run deletes
    result = mirror(region)
    assert result.code == 0, result.stderr
    assert offered_pairs(region.rack_root) == {("amd64", "bookworm")}
    assert not (base(region.rack_root, "i386") / "pxelinux.cfg" / "default").exists()
    assert "retire" in result.stdout
    assert mirror(region).code == 0  # after the grace period: the files go too
    assert not install_dir(region.rack_root, "amd64", "trixie").parent.exists()
    assert not (region.rack_root / "maas" / "i386").exists()


def published_items(region: Region) -> list[dict[str, str]]:
    text = (region.publish_root / INDEX).read_text()
    return list(json.loads(text[text.index("{") : text.rindex("}") + 1])["items"])


def test_a_region_import_that_changes_nothing_neither_re_signs_its_index_nor_says_it_changed(archive, region):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    first = (region.publish_root / INDEX).read_bytes()
    assert region.region_import().code == 0
    assert (region.publish_root / INDEX).read_bytes() == first  # not signed again: same date, same signature
    # A run that plans no loader (a narrowed one, a source not feeding loaders) keeps the index's loader release.
    published = publishing.after_import(TftpRoot(region.tftp_root), [], MenuSettings())
    assert published is not None and not published.changed


NGINX_SITE = Path(__file__).resolve().parents[2] / "contrib" / "nginx" / "pxeimport-publish"


@pytest.mark.slow
def test_a_rack_imports_through_the_contrib_nginx_site(archive, region, tmp_path):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert region.region_import().code == 0
    port = free_port()
    replacements = (("listen 8080;", f"listen 127.0.0.1:{port};"), ("/srv/pxeimport/publish", str(region.publish_root)))
    with running_nginx(site_with(NGINX_SITE, replacements), tmp_path) as server:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url + INDEX, server)
        region.server = type(region.server)(region.publish_root)  # not started: the rack goes through nginx
        region.publishing(False)
        args = ("--layout", "region", "--archive", url, "--keyring", str(region.keyring))
        result = run(*args, "--tftproot", str(region.rack_root), *SELECTION)
        assert result.code == 0, result.stderr
        assert (install_dir(region.rack_root, "amd64", "bookworm") / "linux").read_bytes() == files["linux"]
        index = requests.get(url + INDEX, timeout=5)
        assert index.headers["Cache-Control"] == "no-cache"
        assert requests.get(url + INDEX, headers={"If-None-Match": index.headers["ETag"]}, timeout=5).status_code == 304
        version = os.readlink(install_dir(region.tftp_root, "amd64", "bookworm"))
        linux = requests.get(f"{url}{FILES_DIR}/amd64/bookworm/{version}/linux", timeout=5)
        assert linux.content == files["linux"] and "immutable" in linux.headers["Cache-Control"]
        assert requests.get(url + ".history.json", timeout=5).status_code == 404


def test_a_rack_without_a_broker_converges_with_one_rack_sync_and_says_so(archive, region):
    """converge_rack: the timer's way (no RabbitMQ): the arches and releases come from the region's index."""
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert region.region_import().code == 0
    region.publishing(False)
    out = StringIO()
    args = ["--tftproot", str(region.rack_root), "--region", region.server.url, "--keyring", str(region.keyring)]
    region.server.clear_requests()
    call_command("converge_rack", *args, "--name", "site-a", stdout=out, stderr=StringIO())
    assert f"rack site-a: in sync with {region.server.url}" in out.getvalue()
    # One converge reads the region's signed index once: the selection and the import share it.
    assert [r.path for r in region.server.requests if r.path.endswith(INDEX)] == [f"/{INDEX}"]
    served = install_dir(region.rack_root, "amd64", "bookworm")
    assert os.readlink(served) == os.readlink(install_dir(region.tftp_root, "amd64", "bookworm"))
    assert (served / "linux").read_bytes() == files["linux"]


def test_rack_sync_with_a_foreign_keyring_fails_and_keeps_what_was_served(archive, region, signer):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    region.publishing(False)
    args = ["--tftproot", str(region.rack_root), "--region", region.server.url, "--keyring", str(signer.keyring)]
    with pytest.raises(CommandError) as caught:
        call_command("converge_rack", *args, "--name", "site-a", stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 1 and "the region's index" in str(caught.value)
    assert not region.rack_root.exists() or not (region.rack_root / "maas").exists()


def rack_config(region: Region, root: Path | None = None) -> RackConfig:
    region.publishing(False)
    return RackConfig("r1", (root or region.rack_root).absolute(), region.server.url, region.keyring)


def test_a_converge_judges_its_own_run_even_after_the_racks_clock_was_set_back(archive, region):
    """An earlier run stamped by a clock that was hours fast must not pass for this converge's run."""
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    ahead = datetime.now(UTC) + timedelta(hours=3)
    ImportRun.objects.create(tftproot=str(region.rack_root.absolute()), started=ahead, status="failed")
    report = converge(rack_config(region))
    assert report["error"] == "" and [i["error"] for i in report["items"]] == ["", ""]


def test_a_converge_into_a_root_it_cannot_use_says_why_not_that_items_were_not_imported(archive, region, tmp_path):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert region.region_import().code == 0
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    report = converge(rack_config(region, not_a_dir))
    assert "cannot use TFTP root" in report["error"] and "not imported by the last sync" not in report["error"]
    assert report["items"] == []


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--region", "region.example.org/", "give the region's http(s) PXEIMPORT_PUBLISH_URL"),
        ("--keyring", "/etc/hostname", "is not an OpenPGP keyring"),
    ],
)
def test_converge_rack_with_a_region_or_keyring_that_cannot_work_is_a_usage_error(region, option, value, says):
    args = {"--tftproot": str(region.rack_root), "--region": region.server.url, "--keyring": str(region.keyring)}
    args[option] = value
    with pytest.raises(CommandError) as caught:
        call_command("converge_rack", *[x for pair in args.items() for x in pair], stdout=StringIO())
    assert caught.value.returncode == 2 and says in str(caught.value)


def test_the_region_layout_without_a_keyring_is_a_usage_error(region):
    region.publishing(False)
    result = run("--layout", "region", "--archive", region.server.url, "--tftproot", str(region.rack_root))
    assert result.code == 2 and "--layout region needs --keyring FILE" in result.stderr
