"""A rack keeps what the region's installers fetch after the kernel starts in its own HTTP root, and its menus
name the rack's copy: nodes of a rack need nothing of the region's to start the installer. Anaconda's installer
tree (.treeinfo and images/install.img, named by inst.stage2) and linuxrc's installation system (boot/<arch>/
config and its parts, named by instsys=<dir>/root). The region imports a stand-in (tools/anaconda_iso.py,
tools/opensuse_iso.py) and publishes; the rack imports with --layout region. Real gpg and gpgv, real HTTP
servers on loopback.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pxeimport.publication import HTTP_DIR, INDEX
from tests.support.region import region_settings, run
from tests.support.requirements import require_tool
from tests.support.tree import base, install_dir
from tools import anaconda_iso, opensuse_iso
from tools.faultserver import FaultServer
from tools.httpserver import ArchiveServer
from tools.signing import ArchiveSigner

pytestmark = pytest.mark.django_db
REGION_HTTP_URL = "http://region.example.org/pxe"
STAGE2 = b"AlmaLinux install.img stand-in\n" * 512


@dataclass(frozen=True)
class Installer:
    """One layout whose installer fetches files from the HTTP root: how to publish it upstream, what the rack
    must keep (paths below the tree, one of them with `fetched` bytes), and the option naming it."""

    layout: str
    url: str
    release: str
    option: str  # a regex whose group is the URL the option names
    kept: tuple[str, ...]
    fetched: tuple[str, bytes]

    def publish(self, upstream: Path, work: Path, signer: ArchiveSigner) -> str:
        """The stand-in ISO directory below `upstream`; the tree's path below the HTTP root's images/."""
        if self.layout == "anaconda-iso":
            iso = anaconda_iso.boot_iso(work / "alma.iso", "AlmaLinux", "9.5", b"kernel\n", b"initrd\n", STAGE2)
            directory = anaconda_iso.IsoDirectory(upstream, "almalinux/9/isos/x86_64", signer)
            directory.add("AlmaLinux-9.5-x86_64-boot.iso", iso)
            directory.write_list()
            return f"almalinux/9/{hashlib.sha256(iso.read_bytes()).hexdigest()[:16]}"
        iso = opensuse_iso.net_iso(work / "leap.iso", b"kernel\n", b"initrd\n", label="leap")
        opensuse_iso.IsoDirectory(upstream, "distribution/leap/15.6/iso", signer).add(
            "openSUSE-Leap-15.6-NET-x86_64-Build710.3-Media.iso", iso
        )
        return f"opensuse/15.6/{hashlib.sha256(iso.read_bytes()).hexdigest()[:16]}"


ANACONDA = Installer(
    "anaconda-iso", "almalinux/", "9", r"inst\.stage2=(\S+)", (".treeinfo", "images/install.img"),
    ("images/install.img", STAGE2),
)  # fmt: skip
LINUXRC = Installer(
    "opensuse-iso", "", "15.6", r"instsys=(\S+)/root ",
    tuple(f"boot/x86_64/{p}" for p in ("bind", "common", "config", "cracklib-dict-full.rpm", "root")),
    ("boot/x86_64/root", b"leap root\n" * 100),
)  # fmt: skip


@pytest.mark.parametrize("installer", [ANACONDA, LINUXRC], ids=lambda i: i.layout)
def test_a_rack_keeps_what_the_installer_fetches_and_its_menus_name_its_own_copy(installer, tmp_path, settings, signer):
    require_tool("xorriso")
    upstream = tmp_path / "upstream"
    tree = installer.publish(upstream, tmp_path, signer)
    keyring = region_settings(tmp_path, settings)
    pairs = ["--arch", "amd64", "--release", installer.release]
    with (
        FaultServer(upstream) as mirror,
        ArchiveServer(tmp_path / "publish") as region,
        ArchiveServer(tmp_path / "rack-http") as rack_http,
    ):
        settings.PXEIMPORT_PUBLISH_ROOT = tmp_path / "publish"
        settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = str(tmp_path / "region-http"), REGION_HTTP_URL
        argv = ["--layout", installer.layout, "--archive", mirror.url + installer.url, "--keyring", str(signer.keyring)]
        assert run(*argv, "--tftproot", str(tmp_path / "region-tftp"), *pairs).code == 0
        text = (tmp_path / "publish" / INDEX).read_text()
        index = json.loads(text[text.index("{") : text.rindex("}") + 1])
        install = next(i for i in index["items"] if i["kind"] == "install")
        assert sorted(f["path"] for f in install["http_files"]) == [f"{tree}/{path}" for path in installer.kept]

        settings.PXEIMPORT_PUBLISH_ROOT = None
        settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = str(tmp_path / "rack-http"), rack_http.url + "boot"
        argv = ["--layout", "region", "--archive", region.url, "--keyring", str(keyring)]
        result = run(*argv, "--tftproot", str(tmp_path / "rack-tftp"), *pairs)

        assert result.code == 0, result.stderr
        kept = tmp_path / "rack-http" / "images" / tree
        assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file()) == list(installer.kept)
        menu = (base(tmp_path / "rack-tftp", "amd64") / "grub" / "grub.cfg").read_text()
        named = set(re.findall(installer.option, menu))
        assert named == {f"{rack_http.url}boot/images/{tree}" + ("/" if installer is ANACONDA else "/boot/x86_64")}
        assert (install_dir(tmp_path / "rack-tftp", "amd64", installer.release) / "linux").read_bytes() == b"kernel\n"
        # What the rack's nodes fetch, from the rack's own web server.
        path, data = installer.fetched
        assert requests.get(f"{rack_http.url}images/{tree}/{path}", timeout=30).content == data
        # Its bytes crossed once: the version's file, whose SHA-256 the HTTP root's copy shares.
        pulled = [r.path for r in region.requests]
        assert len([p for p in pulled if p.endswith("/" + path.rsplit("/", 1)[1])]) == 1, pulled
        assert not [p for p in pulled if p.startswith(f"/{HTTP_DIR}/")]

        # A copy damaged in the rack's HTTP root is fetched again: one cut short by the next run, one of the
        # same size with --verify (found by a walk: both stayed, and --verify said "none damaged").
        # (Each a file of its own: the copy is a hard link of the served file, whose own check is not this one.)
        for damage, options in ((b"junk", ()), (bytes(len(data)), ("--verify",))):
            (kept / path).unlink()
            (kept / path).write_bytes(damage)
            again = run(*argv, "--tftproot", str(tmp_path / "rack-tftp"), *pairs, *options)
            assert again.code == 0, again.stderr
            assert (kept / path).read_bytes() == data
