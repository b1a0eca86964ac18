"""A rack keeps the region's verified ISO in its own HTTP root and its menus name the rack's URL.

The region imports the ubuntu-iso layout (a stand-in live-server ISO holding Debian's real netboot
kernel, loaders from Debian's real .debs; tests/support/ubuntu_iso.py's fixtures) into its TFTP and
HTTP roots and publishes both; a rack, with an HTTP root and URL of its own, imports with
`--layout region`. Real gpg and gpgv, real HTTP servers on loopback for the upstream, the region's
publish root and the rack's HTTP root.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pxeimport.publication import HTTP_DIR, INDEX
from tests.support.commands import CommandResult
from tests.support.region import region_settings, run
from tests.support.requirements import require_tool
from tests.support.tree import base, install_dir
from tests.support.ubuntu_iso import ARGS, ISO_3, ISO_4, parts, server, upstream  # noqa: F401 (fixtures)
from tools.faultserver import FaultServer
from tools.httpserver import ArchiveServer
from tools.signing import ArchiveSigner
from tools.ubuntu_iso import UbuntuIsoTree

pytestmark = pytest.mark.django_db
REGION_HTTP_URL = "http://region.example.org/pxe"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Site:
    """The region (TFTP root, HTTP root, publish root served on loopback, key) and one rack (TFTP root,
    HTTP root served on loopback at the URL its menus name)."""

    tmp: Path
    settings: pytest.FixtureRequest
    upstream_url: str
    upstream_keyring: Path
    region_http: ArchiveServer
    rack_http: ArchiveServer
    keyring: Path

    @property
    def region_root(self) -> Path:
        return self.tmp / "region-tftp"

    @property
    def rack_root(self) -> Path:
        return self.tmp / "rack-tftp"

    @property
    def rack_http_root(self) -> Path:
        return self.tmp / "rack-http"

    def region_import(self) -> CommandResult:
        s = self.settings
        s.PXEIMPORT_PUBLISH_ROOT = self.tmp / "publish"  # type: ignore[attr-defined]
        s.PXEIMPORT_HTTP_ROOT, s.PXEIMPORT_HTTP_URL = str(self.tmp / "region-http"), REGION_HTTP_URL  # type: ignore[attr-defined]
        argv = ["--layout", "ubuntu-iso", "--archive", self.upstream_url + "releases/"]
        argv += ["--loader-archive", self.upstream_url + "ubuntu/dists/", "--keyring", str(self.upstream_keyring)]
        return run(*argv, "--tftproot", str(self.region_root), *ARGS)

    def rack_import(self, *, http_root: bool = True) -> CommandResult:
        s = self.settings
        s.PXEIMPORT_PUBLISH_ROOT = None  # type: ignore[attr-defined]
        s.PXEIMPORT_HTTP_ROOT = str(self.rack_http_root) if http_root else None  # type: ignore[attr-defined]
        s.PXEIMPORT_HTTP_URL = self.rack_http.url + "boot" if http_root else None  # type: ignore[attr-defined]
        argv = ["--layout", "region", "--archive", self.region_http.url, "--keyring", str(self.keyring)]
        return run(*argv, "--tftproot", str(self.rack_root), *ARGS)

    def index(self) -> dict[str, object]:
        text = (self.tmp / "publish" / INDEX).read_text()
        data: dict[str, object] = json.loads(text[text.index("{") : text.rindex("}") + 1])
        return data

    def iso_requests(self) -> list[str]:
        return [r.path for r in self.region_http.requests if f"/{HTTP_DIR}/" in r.path]


def iso_urls(tftp_root: Path) -> set[str]:
    menus = (base(tftp_root, "amd64") / name for name in ("pxelinux.cfg/default", "grub/grub.cfg"))
    return {url for menu in menus for url in re.findall(r"iso-url=(\S+)", menu.read_text())}


@pytest.fixture
def site(
    tmp_path: Path,
    settings,
    server: FaultServer,  # noqa: F811
    signer: ArchiveSigner,
    upstream: UbuntuIsoTree,  # noqa: F811
) -> Iterator[Site]:
    require_tool("gpg")
    keyring = region_settings(tmp_path, settings)
    with ArchiveServer(tmp_path / "publish") as region_http, ArchiveServer(tmp_path / "rack-http") as rack_http:
        yield Site(tmp_path, settings, server.url, signer.keyring, region_http, rack_http, keyring)


def test_a_rack_keeps_the_verified_iso_and_its_menus_name_its_own_url_which_serves_with_the_region_down(
    site,
    parts,  # noqa: F811
):
    assert site.region_import().code == 0
    iso_sha = sha256(parts["iso3"])
    path = f"ubuntu/noble/{iso_sha[:16]}/{ISO_3}"
    install = next(i for i in site.index()["items"] if i["kind"] == "install")
    size = parts["iso3"].stat().st_size
    assert install["http_files"] == [
        {"path": path, "sha256": iso_sha, "size": size, "node_url": f"{REGION_HTTP_URL}/images/{path}"}
    ]

    result = site.rack_import()

    assert result.code == 0, result.stderr
    kept = site.rack_http_root / "images" / path
    assert sha256(kept) == iso_sha
    assert iso_urls(site.rack_root) == {f"{site.rack_http.url}boot/images/{path}"}
    assert site.iso_requests() == [f"/{HTTP_DIR}/{path}"]
    rack_linux = install_dir(site.rack_root, "amd64", "noble") / "linux"
    assert rack_linux.read_bytes() == parts["linux"].read_bytes()

    # The region goes down: the rack's sync fails, and everything its nodes need is still served by the rack.
    served = os.readlink(install_dir(site.rack_root, "amd64", "noble"))
    site.region_http.close()
    assert site.rack_import().code == 1
    assert os.readlink(install_dir(site.rack_root, "amd64", "noble")) == served
    (url,) = iso_urls(site.rack_root)
    assert hashlib.sha256(requests.get(url.replace("/boot/", "/"), timeout=30).content).hexdigest() == iso_sha


def test_a_resync_moves_no_iso_byte_and_a_new_point_release_brings_the_new_iso_and_retires_the_old(
    site,
    upstream,  # noqa: F811
    parts,  # noqa: F811
):
    site.settings.PXEIMPORT_GRACE_SECONDS = 0
    assert site.region_import().code == 0
    assert site.rack_import().code == 0
    site.region_http.clear_requests()

    assert site.rack_import().code == 0
    assert site.iso_requests() == []

    upstream.add_iso("noble", "24.04.4", parts["iso4"])
    assert site.region_import().code == 0
    result = site.rack_import()

    assert result.code == 0, result.stderr
    new = f"ubuntu/noble/{sha256(parts['iso4'])[:16]}/{ISO_4}"
    assert site.iso_requests() == [f"/{HTTP_DIR}/{new}"]
    assert iso_urls(site.rack_root) == {f"{site.rack_http.url}boot/images/{new}"}
    assert sorted(p.name for p in site.rack_http_root.rglob("*.iso")) == [ISO_4]


def test_an_iso_tampered_on_the_region_is_refused_by_the_rack(site, parts):  # noqa: F811
    assert site.region_import().code == 0
    kept = site.tmp / "region-http" / "images" / "ubuntu" / "noble" / sha256(parts["iso3"])[:16] / ISO_3
    with open(kept, "r+b") as f:
        f.seek(40000)
        f.write(b"tampered")

    result = site.rack_import()

    assert result.code == 1
    assert "SHA-256 mismatch" in result.stderr
    assert not install_dir(site.rack_root, "amd64", "noble").exists()
    assert not any(p.is_file() for p in site.rack_http_root.rglob("*"))


def test_a_rack_without_an_http_root_names_the_regions_iso(site):
    assert site.region_import().code == 0

    result = site.rack_import(http_root=False)

    assert result.code == 0, result.stderr
    assert {u.split("/images/")[0] for u in iso_urls(site.rack_root)} == {REGION_HTTP_URL}
    assert site.iso_requests() == []


# The index's new field and the hash cache, alone -------------------------------------------------


def test_an_index_naming_an_http_file_outside_images_is_refused():
    from pxeimport.publication import PublicationError, parse

    item = {"arch": "amd64", "kind": "install", "release": "noble", "version": "0" * 16, "files": []}
    item |= {"kernel_opts": "", "path": f"v/amd64/noble/install-{'0' * 16}/"}
    http_file = {"path": "../../etc/shadow", "sha256": "a" * 64, "size": 1, "node_url": "http://x/images/a"}
    raw = {"format": 1, "date": "2025-01-01T00:00:00+00:00", "current_release": "noble"}
    with pytest.raises(PublicationError, match="unsafe path"):
        parse(json.dumps(raw | {"items": [item | {"http_files": [http_file]}]}).encode(), name="index")
    assert parse(json.dumps(raw | {"items": [item]}).encode(), name="index").items[0].http_files == ()


def test_the_hash_cache_hashes_a_file_again_once_it_changed(tmp_path):
    from pxeimport.lib import HashCache

    data = tmp_path / "big.iso"
    data.write_bytes(b"one")
    cache = HashCache(tmp_path / "sums.json")
    assert cache.sha256(data) == (hashlib.sha256(b"one").hexdigest(), 3)
    cache.save([data])
    again = HashCache(tmp_path / "sums.json")
    # Same size, mtime and inode: the stored digest is believed (a lie planted in the store shows it).
    stored = json.loads((tmp_path / "sums.json").read_text())
    stored[str(data)][3] = "f" * 64
    (tmp_path / "sums.json").write_text(json.dumps(stored))
    assert HashCache(tmp_path / "sums.json").sha256(data)[0] == "f" * 64
    mtime = data.stat().st_mtime_ns
    data.write_bytes(b"two")
    os.utime(data, ns=(mtime + 10**9, mtime + 10**9))  # a rewrite within one clock tick would keep the mtime
    assert again.sha256(data)[0] == hashlib.sha256(b"two").hexdigest()
    again.save([])
    assert json.loads((tmp_path / "sums.json").read_text()) == {}
