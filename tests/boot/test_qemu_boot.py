"""A real machine boots from the imported TFTP root: QEMU (TCG) PXE-boots Debian's installer.

The archive is built from the real netboot files in Debian's debian-installer-12-netboot-amd64
package (fetched with apt-get at test time, cached in var/cache/), signed with a throwaway key
and served on loopback. QEMU's built-in TFTP serves the imported root; its built-in DHCP hands out
`maas/amd64/base/pxelinux.0` (BIOS) or `maas/amd64/base/bootnetx64.efi` (UEFI, with OVMF).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.qemu import INSTALLER_STARTED, KERNEL_STARTED, boot, console_text, debian_netboot, ovmf_firmware  # noqa: F401 (a fixture)
from tools.archive import ArchiveTree

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


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


def test_a_bios_machine_pxe_boots_the_imported_installer_from_the_menu(imported_root):
    log = boot(
        imported_root, keep="qemu-bios-serial.log", bootfile="maas/amd64/base/pxelinux.0", firmware=[], timeout=240
    )
    assert "pxeimport: booting bookworm" in log.text, f"pxelinux did not show the menu; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    assert any(marker in log.text for marker in INSTALLER_STARTED), f"the installer did not start; see {log.path}"


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

    log = boot(
        tftp_root, keep="qemu-ubuntu-netboot-serial.log", bootfile="maas/amd64/base/pxelinux.0", firmware=[],
        timeout=180, until=("Command line:",),
    )  # fmt: skip
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    command_line = next(line for line in log.text.splitlines() if "Command line:" in line)
    assert f"iso-url={archive_server.url}noble/ubuntu-24.04.4-live-server-amd64.iso" in command_line
    assert "root=/dev/ram0" in command_line and "ip=dhcp" in command_line


def test_a_uefi_machine_boots_the_imported_kernel_through_grub_and_the_generated_menu(imported_root, tmp_path):
    """OVMF (no Secure Boot) loads Debian's signed GRUB by TFTP; GRUB reads its fixed config path,
    which pxeimport points at the arch's menu, and boots the default entry's kernel."""
    firmware = ovmf_firmware(tmp_path)
    log = boot(
        imported_root, keep="qemu-uefi-serial.log", bootfile="maas/amd64/base/grubx64.efi", firmware=firmware,
        timeout=240, machine="q35", until=(KERNEL_STARTED,),
    )  # fmt: skip
    assert "Welcome to GRUB" in log.text, f"GRUB did not start; see {log.path}"
    assert "bookworm installer (install-" in log.text, f"GRUB did not show the generated menu; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"


def test_a_stale_grub_cfg_in_the_prefixs_platform_dir_is_not_read_over_tftp(imported_root, import_pxe, tmp_path):
    """Issue 14.3. Debian's netboot grubx64.efi (prefix /debian-installer/amd64/grub) embeds
    "if [ -e $prefix/x86_64-efi/grub.cfg ]; then source it; else source $prefix/grub.cfg", but over
    TFTP `-e` is false (GRUB's net filesystem lists no directory): a stale file there is not read,
    the node boots pxeimport's menu, and the import does not warn about it."""
    firmware = ovmf_firmware(tmp_path)
    stale = imported_root / "debian-installer/amd64/grub/x86_64-efi/grub.cfg"
    stale.parent.mkdir(parents=True)
    stale.write_text("echo stale-platform-grub-cfg-read\nconfigfile /debian-installer/amd64/grub/old.cfg\n")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    result = import_pxe(*args, "--kernel-opts", "console=ttyS0,115200", verbosity=0)
    # Debian's netboot carries no MokManager (each run says so); nothing else is warned about.
    warnings = [line for line in result.stderr.splitlines() if "Warning" in line and "no MokManager" not in line]
    assert result.code == 0 and not warnings, result.stderr
    log = boot(
        imported_root, keep="qemu-uefi-stale-serial.log", bootfile="maas/amd64/base/grubx64.efi",
        firmware=firmware, timeout=240, machine="q35", until=(KERNEL_STARTED,),
    )  # fmt: skip
    text, keep = log.text, log.path
    assert "Welcome to GRUB" in text, f"GRUB did not start; see {keep}"
    assert "stale-platform-grub-cfg-read" not in text, f"GRUB read $prefix/x86_64-efi/grub.cfg; see {keep}"
    assert "bookworm installer (install-" in text, f"GRUB did not show the generated menu; see {keep}"
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"


def test_the_console_text_leaves_out_the_cursor_moves_a_firmware_writes_between_characters(tmp_path):
    log = tmp_path / "serial.log"
    log.write_bytes(b"pxeimport: booting bookwor\x1b[25;26H\x1b[25;27Hm in 5 s\x1b[0m\x1b(B\r\nboot: \x1b[?25h")
    assert console_text(log) == "pxeimport: booting bookworm in 5 s\nboot: "
    assert console_text(tmp_path / "never-written.log") == ""
