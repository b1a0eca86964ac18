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

from tests.conftest import require_file, require_tool
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


def boot(
    tftp_root: Path,
    log: Path,
    *,
    bootfile: str,
    firmware: list[str],
    timeout: float,
    until: tuple[str, ...] = INSTALLER_STARTED,
    machine: str = "pc",
) -> str:
    """Run QEMU until one of `until` reaches the serial log, or `timeout`; the log."""
    qemu = require_tool("qemu-system-x86_64")
    command = [
        qemu, "-machine", f"{machine},graphics=off", "-accel", "tcg", "-m", "1536", "-smp", "1",
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
            if any(marker in text for marker in until):
                break
    finally:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode is not None
    if not text and stderr:
        raise AssertionError(f"QEMU failed: {stderr.decode(errors='replace')}")
    return log.read_text(errors="replace") if log.exists() else ""


def uefi_firmware(tmp_path: Path) -> list[str]:
    """QEMU options for OVMF (no Secure Boot), with a fresh copy of its variable store in `tmp_path`."""
    require_file(OVMF_CODE, "ovmf")
    require_file(OVMF_VARS, "ovmf")
    variables = tmp_path / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, variables)
    return [
        "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
        "-drive", f"if=pflash,format=raw,file={variables}",
    ]  # fmt: skip


def test_a_bios_machine_pxe_boots_the_imported_installer_from_the_menu(imported_root, tmp_path):
    log = tmp_path / "serial-bios.log"
    text = boot(imported_root, log, bootfile="maas/amd64/base/pxelinux.0", firmware=[], timeout=240)
    keep = Path("var/qemu-bios-serial.log")
    keep.parent.mkdir(exist_ok=True)
    shutil.copyfile(log, keep)
    assert "pxeimport: booting bookworm" in text, f"pxelinux did not show the menu; see {keep}"
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"
    assert any(marker in text for marker in INSTALLER_STARTED), f"the installer did not start; see {keep}"


def test_the_ubuntu_netboot_layout_boots_its_kernel_with_the_iso_url_on_its_command_line(
    tmp_path, signer, debian_netboot, archive_server, tftp_root
):
    from io import StringIO

    from django.core.management import call_command

    from tools.ubuntu_archive import UbuntuNetbootTree

    # A real kernel and initrd (Debian's) packed the way Ubuntu packs its netboot tarball.
    files = {
        "linux": debian_netboot["linux"],
        "initrd": debian_netboot["initrd.gz"],
        "pxelinux.0": debian_netboot["pxelinux.0"],
        "ldlinux.c32": debian_netboot["boot-screens/ldlinux.c32"],
        "bootx64.efi": debian_netboot["bootnetx64.efi"],
        "grubx64.efi": debian_netboot["grubx64.efi"],
    }
    UbuntuNetbootTree(tmp_path / "archive", signer=signer).publish("noble", "24.04.4", "amd64", files)
    call_command(
        "import_pxe_files", "--layout", "ubuntu-netboot", "--archive", archive_server.url,
        "--tftproot", str(tftp_root), "--keyring", str(signer.keyring), "--arch", "amd64",
        "--release", "noble", "--current-release", "noble", "--kernel-opts", "console=ttyS0,115200",
        stdout=StringIO(),
    )  # fmt: skip

    log = tmp_path / "serial-ubuntu.log"
    text = boot(
        tftp_root, log, bootfile="maas/amd64/base/pxelinux.0", firmware=[], timeout=180, until=("Command line:",)
    )
    keep = Path("var/qemu-ubuntu-netboot-serial.log")
    shutil.copyfile(log, keep)
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"
    command_line = next(line for line in text.splitlines() if "Command line:" in line)
    assert f"iso-url={archive_server.url}noble/ubuntu-24.04.4-live-server-amd64.iso" in command_line
    assert "root=/dev/ram0" in command_line and "ip=dhcp" in command_line


def test_a_uefi_machine_boots_the_imported_kernel_through_grub_and_the_generated_menu(imported_root, tmp_path):
    """OVMF (no Secure Boot) loads Debian's signed GRUB by TFTP; GRUB reads its fixed config path,
    which pxeimport points at the arch's menu, and boots the default entry's kernel."""
    firmware = uefi_firmware(tmp_path)
    log = tmp_path / "serial-uefi.log"
    text = boot(
        imported_root, log, bootfile="maas/amd64/base/grubx64.efi", firmware=firmware, timeout=240,
        machine="q35", until=(KERNEL_STARTED,),
    )  # fmt: skip
    keep = Path("var/qemu-uefi-serial.log")
    shutil.copyfile(log, keep)
    assert "Welcome to GRUB" in text, f"GRUB did not start; see {keep}"
    assert "bookworm installer (install-" in text, f"GRUB did not show the generated menu; see {keep}"
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"
