"""The ubuntu-iso tests' parts: real netboot files in stand-in ISOs, real loader .debs, a signed upstream, a run."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.commands import CommandResult
from tests.support.requirements import require_tool, skip_or_fail
from tools import demo
from tools.faultserver import FaultServer
from tools.package_archive import cached_debs, with_version
from tools.signing import ArchiveSigner
from tools.ubuntu_iso import UbuntuIsoTree, live_server_iso

LOADER_PACKAGES = ("pxelinux", "syslinux-common", "shim-signed", "grub-efi-amd64-signed")
ARGS = ("--arch", "amd64", "--release", "noble", "--current-release", "noble")
HTTP_URL = "http://boot.example.org/pxe"
ISO_3 = "ubuntu-24.04.3-live-server-amd64.iso"
ISO_4 = "ubuntu-24.04.4-live-server-amd64.iso"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Debian 12's real netboot kernel and initrd, two stand-in ISOs (24.04.3 with an HWE pair, 24.04.4
    without), Debian's real loader .debs and a newer shim repacked from Debian's own."""
    require_tool("apt-get")
    require_tool("dpkg-deb")
    require_tool("xorriso")
    try:
        netboot = demo.netboot_files({"amd64": demo.fetch_debs()["amd64"]})["amd64"]
        debs = cached_debs(LOADER_PACKAGES)
    except demo.DemoError as exc:
        skip_or_fail(f"Debian's packages could not be downloaded: {exc}")
    work = tmp_path_factory.mktemp("ubuntu-iso-parts")
    hwe = (netboot["linux"], b"hwe initrd stand-in\n")
    found: dict[str, Path] = {"linux": netboot["linux"], "initrd": netboot["initrd.gz"]}
    found["iso3"] = live_server_iso(work / ISO_3, "24.04.3", netboot["linux"], netboot["initrd.gz"], hwe)
    found["iso4"] = live_server_iso(work / ISO_4, "24.04.4", netboot["linux"], netboot["initrd.gz"])
    found |= {f"deb:{name}": deb for name, deb in debs.items()}
    found["deb:shim-newer"] = with_version(debs["shim-signed"], "1.99+pxeimport1", work)
    return found


@pytest.fixture
def upstream(tmp_path: Path, signer: ArchiveSigner, parts: dict[str, Path]) -> UbuntuIsoTree:
    tree = UbuntuIsoTree(tmp_path / "upstream", signer)
    tree.add_iso("noble", "24.04.3", parts["iso3"])
    release = [parts[f"deb:{name}"] for name in LOADER_PACKAGES]
    tree.publish_loaders("noble", {"": release, "-updates": [parts["deb:shim-newer"]]})
    return tree


@pytest.fixture
def server(upstream: UbuntuIsoTree):
    with FaultServer(upstream.root, ranges=True) as running:
        yield running


@pytest.fixture
def http_root(tmp_path: Path, settings) -> Path:
    settings.PXEIMPORT_HTTP_ROOT = str(tmp_path / "http")
    settings.PXEIMPORT_HTTP_URL = HTTP_URL
    settings.PXEIMPORT_HTTP_BACKOFF = 0
    return tmp_path / "http"


@pytest.fixture
def run(server: FaultServer, tftp_root: Path, signer: ArchiveSigner):
    def run(*args: str, keyring: Path = signer.keyring) -> CommandResult:
        out, err = StringIO(), StringIO()
        argv = ["--layout", "ubuntu-iso", "--archive", server.url + "releases/"]
        argv += ["--loader-archive", server.url + "ubuntu/dists/", "--tftproot", str(tftp_root)]
        try:
            call_command("import_pxe_files", *argv, "--keyring", str(keyring), *ARGS, *args, stdout=out, stderr=err)
            return CommandResult(0, out.getvalue(), err.getvalue())
        except CommandError as exc:
            return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))

    return run
