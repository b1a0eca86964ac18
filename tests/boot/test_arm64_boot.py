"""An arm64 machine boots from the imported TFTP root: QEMU aarch64 (TCG, machine virt, AAVMF UEFI) PXE-boots
Debian's arm64 installer kernel through the signed GRUB and pxeimport's generated menu.

The archive is built from the real netboot files in Debian's debian-installer-12-netboot-arm64 package
(fetched with apt-get at test time, cached in var/cache/), signed with a throwaway key and served on
loopback. For arm64 the import serves the signed shim maas/arm64/base/bootnetaa64.efi and the signed
GRUB maas/arm64/base/grubaa64.efi beside it; GRUB's built-in prefix is /debian-installer/arm64/grub, where
the import writes the redirect to maas/arm64/base/grub/grub.cfg. QEMU's built-in DHCP hands out the
boot file and its built-in TFTP serves the root; a capture of the NIC's traffic shows what was read.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support.aarch64 import (  # noqa: F401 (a fixture)
    aavmf_firmware,
    boot_aarch64,
    debian_netboot_arm64,
    dhcp_options,
    tftp_reads,
)
from tools.archive import ArchiveTree

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

BANNER = "Booting Linux on physical CPU"
COMMAND_LINE = "Kernel command line:"
# The option 93 (client system architecture) value of a UEFI ARM64 client (RFC 4578, IANA's registry).
UEFI_ARM64 = 11
# QEMU's first NIC's MAC address, 52:54:00:12:34:56, as GRUB's menu hands it to the installer.
BOOTIF = "BOOTIF=01-52-54-00-12-34-56"
# TCG needs some 35 s to the banner; a loaded machine several times that.
TIMEOUT = 240


@pytest.fixture
def imported_root(tmp_path, signer, debian_netboot_arm64, archive_server, import_pxe, tftp_root) -> Path:
    # The archive_server fixture serves tmp_path/"archive": lay the real files out there.
    tree = ArchiveTree(tmp_path / "archive", installer_dir="debian-installer", signer=signer)
    tree.publish("bookworm", "arm64", debian_netboot_arm64)
    result = import_pxe(
        "--arch", "arm64", "--release", "bookworm", "--current-release", "bookworm",
        "--kernel-opts", "console=ttyAMA0",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    root: Path = tftp_root
    return root


def kernel_command_line(text: str) -> str:
    """The line where the kernel prints its command line, or "" when it did not get that far."""
    return next((line for line in text.splitlines() if COMMAND_LINE in line), "")


def test_an_arm64_uefi_machine_boots_the_imported_installer_kernel_through_grub_and_the_generated_menu(
    imported_root, tmp_path
):
    """AAVMF loads the signed arm64 GRUB by TFTP; GRUB reads $prefix/grub.cfg, which pxeimport points at
    the arm64 menu, and boots the default entry's kernel with the kernel options and the node's MAC."""
    capture = tmp_path / "arm64-grub.pcap"
    log = boot_aarch64(
        imported_root, keep="qemu-arm64-uefi-serial.log", bootfile="maas/arm64/base/grubaa64.efi",
        firmware=aavmf_firmware(tmp_path), timeout=TIMEOUT, until=(COMMAND_LINE,), capture=capture,
    )  # fmt: skip
    text, keep = log.text, log.path
    assert "NBP filename is maas/arm64/base/grubaa64.efi" in text, f"the firmware did not PXE-boot; see {keep}"
    assert "Welcome to GRUB" in text, f"GRUB did not start; see {keep}"
    assert "bookworm installer (install-" in text, f"GRUB did not show the generated menu; see {keep}"
    assert BANNER in text and "Linux version" in text, f"the kernel did not start; see {keep}"
    command_line = kernel_command_line(text)
    assert re.search(r"/maas/arm64/base/bookworm/install-[0-9a-f]+/linux ", command_line), f"see {keep}"
    assert "console=ttyAMA0" in command_line and BOOTIF in command_line, f"see {keep}"
    reads = list(dict.fromkeys(tftp_reads(capture)))  # each name once: a client may ask again after a timeout
    menus = ["/debian-installer/arm64/grub/grub.cfg", "/maas/arm64/base/grub/grub.cfg"]
    assert [name for name in reads if name.endswith("grub.cfg")] == menus, f"GRUB read {reads}; see {keep}"
    assert reads[-1].endswith("/initrd.gz"), f"GRUB did not load the initrd last: {reads}; see {keep}"


def test_the_loader_dhcp_config_names_for_an_arm64_firmware_chains_to_grub_and_boots_the_kernel(
    imported_root, tmp_path
):
    """What an operator's DHCP server would answer an arm64 UEFI client, from `manage.py dhcp_config`, is
    the signed shim; the firmware really says it is client arch 11, and the shim finds the signed GRUB
    beside it, which boots the generated menu's kernel (Secure Boot off: AAVMF_VARS.fd enrolls no keys)."""
    out = StringIO()
    call_command("dhcp_config", "--server", "dnsmasq", "--tftproot", str(imported_root), stdout=out)
    answers = dict(re.findall(r"^dhcp-boot=tag:pxeimport-(\d+),(\S+)$", out.getvalue(), re.MULTILINE))
    loader = answers.get(str(UEFI_ARM64), "")
    assert loader == "maas/arm64/base/bootnetaa64.efi", out.getvalue()
    assert (imported_root / loader).is_file(), f"dhcp_config names {loader}, which the root does not serve"

    capture = tmp_path / "arm64-shim.pcap"
    log = boot_aarch64(
        imported_root, keep="qemu-arm64-uefi-shim-serial.log", bootfile=loader,
        firmware=aavmf_firmware(tmp_path), timeout=TIMEOUT, capture=capture,
    )  # fmt: skip
    text, keep = log.text, log.path
    arches = {int.from_bytes(options.get(93, b""), "big") for options in dhcp_options(capture)}
    assert arches == {UEFI_ARM64}, f"the firmware sent option 93 = {arches}, not {UEFI_ARM64}; see {keep}"
    assert f"NBP filename is {loader}" in text, f"the firmware did not PXE-boot the shim; see {keep}"
    assert "Fetching Netboot Image maas/arm64/base/grubaa64.efi" in text, f"the shim found no GRUB; see {keep}"
    assert "Welcome to GRUB" in text, f"GRUB did not start; see {keep}"
    assert "bookworm installer (install-" in text, f"GRUB did not show the generated menu; see {keep}"
    assert BANNER in text, f"the kernel did not start; see {keep}"


def test_an_arm64_machine_with_secure_boot_on_verifies_and_boots_the_imported_shim_grub_and_kernel(
    imported_root, tmp_path
):
    """AAVMF with Microsoft's keys enrolled and Secure Boot on, as an arm64 server ships: the firmware
    verifies the shim (Microsoft's signature), the shim GRUB (Debian's), GRUB the kernel, which says Secure
    Boot is on. (GRUB served alone is refused: "Access Denied"; dhcp_config names the shim for arm64.)"""
    log = boot_aarch64(
        imported_root, keep="qemu-arm64-secure-boot-serial.log", bootfile="maas/arm64/base/bootnetaa64.efi",
        firmware=aavmf_firmware(tmp_path, secure_boot=True), timeout=TIMEOUT, until=(COMMAND_LINE,),
    )  # fmt: skip
    text, keep = log.text, log.path
    assert "Access Denied" not in text, f"the firmware refused the shim; see {keep}"
    assert "Fetching Netboot Image maas/arm64/base/grubaa64.efi" in text, f"the shim found no GRUB; see {keep}"
    assert "Welcome to GRUB" in text, f"the shim did not start GRUB; see {keep}"
    assert "bookworm installer (install-" in text, f"GRUB did not show the generated menu; see {keep}"
    assert BANNER in text, f"GRUB did not start the kernel; see {keep}"
    assert "secureboot: Secure boot enabled" in text, f"the kernel did not boot with Secure Boot on; see {keep}"
