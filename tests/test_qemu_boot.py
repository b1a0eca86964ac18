"""A real machine boots from the imported TFTP root: QEMU (TCG) PXE-boots Debian's installer.

The archive is built from the real netboot files in Debian's debian-installer-12-netboot-amd64
package (fetched with apt-get at test time, cached in var/cache/), signed with a throwaway key
and served on loopback. QEMU's built-in TFTP serves the imported root; its built-in DHCP hands out
`maas/amd64/base/pxelinux.0` (BIOS) or `maas/amd64/base/bootnetx64.efi` (UEFI, with OVMF).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tools import demo
from tools.archive import ArchiveTree

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
KERNEL_STARTED = "Linux version"
# What the installer's first screen prints on the serial console (its language question).
INSTALLER_STARTED = ("Choose language", "Select a language", "Debian installer main menu")


@pytest.fixture(scope="module")
def debian_netboot() -> dict[str, Path]:
    """The regular files of Debian 12's amd64 netboot directory."""
    require_tool("apt-get")
    require_tool("dpkg-deb")
    debs = demo.fetch_debs()
    files: dict[str, Path] = demo.netboot_files({"amd64": debs["amd64"]})["amd64"]
    return files


@pytest.fixture
def imported_root(tmp_path, signer, debian_netboot, archive_server, import_pxe, tftp_root) -> Path:
    # The archive_server fixture serves tmp_path/"archive": lay the real files out there.
    tree = ArchiveTree(tmp_path / "archive", installer_dir="debian-installer", signer=signer)
    tree.publish("bookworm", "amd64", debian_netboot)
    result = import_pxe(
        "--arch",
        "amd64",
        "--release",
        "bookworm",
        "--current-release",
        "bookworm",
        "--kernel-opts",
        "console=ttyS0,115200",
    )
    assert result.code == 0, result.stderr
    root: Path = tftp_root
    return root


def boot(tftp_root: Path, log: Path, *, bootfile: str, firmware: list[str], timeout: float) -> str:
    """Run QEMU until the installer's first screen reaches the serial log, or `timeout`; the log."""
    qemu = require_tool("qemu-system-x86_64")
    command = [
        qemu, "-machine", "pc,graphics=off", "-accel", "tcg", "-m", "1024", "-smp", "1",
        "-display", "none", "-monitor", "none", "-serial", f"file:{log}", "-no-reboot",
        "-netdev", f"user,id=net0,tftp={tftp_root},bootfile={bootfile}",
        "-device", "e1000,netdev=net0", "-boot", "n", *firmware,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    text = ""
    try:
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(1)
            text = log.read_text(errors="replace") if log.exists() else ""
            if any(marker in text for marker in INSTALLER_STARTED):
                break
    finally:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode is not None
    if not text and stderr:
        raise AssertionError(f"QEMU failed: {stderr.decode(errors='replace')}")
    return log.read_text(errors="replace") if log.exists() else ""


def test_a_bios_machine_pxe_boots_the_imported_installer_from_the_menu(imported_root, tmp_path):
    log = tmp_path / "serial-bios.log"
    text = boot(imported_root, log, bootfile="maas/amd64/base/pxelinux.0", firmware=[], timeout=240)
    keep = Path("var/qemu-bios-serial.log")
    keep.parent.mkdir(exist_ok=True)
    shutil.copyfile(log, keep)
    assert "pxeimport: booting bookworm" in text, f"pxelinux did not show the menu; see {keep}"
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"
    assert any(marker in text for marker in INSTALLER_STARTED), f"the installer did not start; see {keep}"
