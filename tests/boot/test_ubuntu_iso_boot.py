"""Machines boot what the ubuntu-iso layout imported (QEMU, TCG, its built-in DHCP and TFTP): BIOS through
the packages' pxelinux; UEFI the way real nodes do, through the signed shim (`bootx64.efi`), which
loads the signed GRUB beside it, which reads pxeimport's menu; with Secure Boot on too. The HWE entry
is chosen at each menu with keys and shown to run the HWE pair.

The parts are tests/support/ubuntu_iso.py's (Debian's real netboot kernel and initrd in a stand-in ISO,
Debian's real loader .debs in a stand-in signed archive). Here the ISO's HWE initrd is Debian's initrd
with an /init that first prints HWE_BANNER (tools/initramfs.py), so the console shows which initrd runs.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.qemu import (
    FIRMWARE_NIC,
    INSTALLER_STARTED,
    KERNEL_STARTED,
    SerialLog,
    boot,
    ovmf_firmware,
    typed,
)
from tests.support.ubuntu_iso import HTTP_URL, ISO_3, http_root, parts, run, server, upstream  # noqa: F401 (fixtures)
from tools.initramfs import announcing, newc_members
from tools.ubuntu_iso import live_server_iso

pytestmark = pytest.mark.django_db
HWE_BANNER = "pxeimport test: the HWE initrd runs"
SHIM = "maas/amd64/base/bootx64.efi"
KERNEL_OPTS = ("--kernel-opts", "console=ttyS0,115200")


@pytest.fixture(scope="module")
def bootable_iso(parts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """24.04.3's stand-in ISO with Debian's kernel as both kernels and an HWE initrd that says so."""
    hwe = (parts["linux"], announcing(parts["initrd"], HWE_BANNER))
    work = tmp_path_factory.mktemp("bootable-iso")
    return live_server_iso(work / ISO_3, "24.04.3", parts["linux"], parts["initrd"], hwe)


@pytest.fixture
def imported(run, upstream, bootable_iso, tftp_root, http_root, settings) -> Callable[[int], Path]:  # noqa: F811
    """Import noble from the bootable ISO with the menus' timeout given (seconds); the TFTP root."""

    def imported(menu_timeout: int = 5) -> Path:
        upstream.add_iso("noble", "24.04.3", bootable_iso)
        settings.PXEIMPORT_MENU_TIMEOUT = menu_timeout
        result = run(*KERNEL_OPTS)
        assert result.code == 0, result.stderr
        root: Path = tftp_root
        return root

    return imported


def command_line(log: SerialLog) -> str:
    lines = [line for line in log.text.splitlines() if "Command line: " in line]
    assert lines, f"the kernel did not print its command line; see {log.path}"
    return lines[0].split("Command line: ", 1)[1]


def test_the_stand_in_hwe_initrd_is_debians_with_an_init_that_first_prints_the_banner(parts, bootable_iso):  # noqa: F811
    hwe = announcing(parts["initrd"], HWE_BANNER)
    debian = newc_members(gzip.decompress(parts["initrd"].read_bytes()))
    both = newc_members(gzip.decompress(hwe))  # the kernel's order: the appended archive's /init wins
    init = both["init"].decode()
    assert init.splitlines()[:2] == [debian["init"].decode().splitlines()[0], f"echo '{HWE_BANNER}'"]
    assert init.endswith(debian["init"].decode().split("\n", 1)[1])
    assert both.keys() == debian.keys() and both["bin/busybox"] == debian["bin/busybox"]


# QEMU boots (slow: TCG on two cores) ---------------------------------------------------------


@pytest.mark.slow
def test_a_bios_machine_boots_the_kernel_from_the_iso_through_the_packages_pxelinux_and_the_menu(imported):
    log = boot(
        imported(), keep="qemu-ubuntu-iso-bios-serial.log", bootfile="maas/amd64/base/pxelinux.0", firmware=[],
        timeout=240, until=("Command line:",),
    )  # fmt: skip
    assert "pxeimport: booting noble" in log.text, f"pxelinux did not show the menu; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    assert f"iso-url={HTTP_URL}/images/ubuntu/noble/" in command_line(log)
    assert "cloud-config-url=/dev/null" in command_line(log)


@pytest.mark.slow
def test_a_uefi_machine_boots_through_the_signed_shim_which_loads_the_signed_grub_beside_it(imported, tmp_path):
    """What a real UEFI node gets as its boot file: the shim, which fetches grubx64.efi from its own
    TFTP directory; GRUB reads its fixed config path, pxeimport's redirect, then the arch's menu."""
    log = boot(
        imported(), keep="qemu-ubuntu-iso-shim-serial.log", bootfile=SHIM, firmware=ovmf_firmware(tmp_path),
        timeout=300, machine="q35", nic=FIRMWARE_NIC, until=("Command line:",),
    )  # fmt: skip
    assert "NBP filename is maas/amd64/base/bootx64.efi" in log.text, f"OVMF did not load the shim; see {log.path}"
    assert "Fetching Netboot Image maas/amd64/base/grubx64.efi" in log.text, f"no shim; see {log.path}"
    assert "Welcome to GRUB" in log.text, f"GRUB did not start; see {log.path}"
    assert "noble installer (install-" in log.text and "noble-hwe installer (install-" in log.text, log.path
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    assert re.match(r"BOOT_IMAGE=/maas/amd64/base/noble/install-[0-9a-f]+/linux ", command_line(log)), log.path


@pytest.mark.slow
def test_with_secure_boot_on_and_microsofts_keys_the_shim_chain_boots_the_signed_kernel(imported, tmp_path):
    """OVMF's Secure Boot build with Microsoft's keys enrolled, as a PC off the shelf: it runs the shim
    only because Microsoft signed it, the shim runs GRUB only because its vendor (here Debian) signed
    it, and GRUB, through the shim, the kernel likewise; the kernel's EFI stub says Secure Boot is on."""
    firmware = ovmf_firmware(tmp_path, secure_boot=True)
    log = boot(
        imported(), keep="qemu-ubuntu-iso-secure-boot-serial.log", bootfile=SHIM, firmware=firmware, timeout=420,
        machine="q35", nic=FIRMWARE_NIC, until=("Command line:",),
    )  # fmt: skip
    assert "Fetching Netboot Image maas/amd64/base/grubx64.efi" in log.text, f"no shim; see {log.path}"
    assert "noble installer (install-" in log.text, f"GRUB did not show the generated menu; see {log.path}"
    assert "EFI stub: UEFI Secure Boot is enabled." in log.text, f"Secure Boot was off; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"


@pytest.mark.slow
def test_a_bios_machine_boots_the_hwe_entry_typed_at_pxelinuxs_prompt(imported):
    # A long menu timeout so a loaded machine cannot miss the prompt; the first key stops the countdown.
    log = boot(
        imported(menu_timeout=120), keep="qemu-ubuntu-iso-bios-hwe-serial.log",
        bootfile="maas/amd64/base/pxelinux.0", firmware=[], timeout=300,
        keys=[("pxeimport: booting noble in", typed("noble-hwe\n"))], until=(HWE_BANNER, *INSTALLER_STARTED),
    )  # fmt: skip
    hwe = re.escape("noble/install-") + "[0-9a-f]+/hwe-"
    assert re.match(f"BOOT_IMAGE={hwe}linux initrd={hwe}initrd ", command_line(log)), f"not HWE; see {log.path}"
    assert HWE_BANNER in log.text, f"the HWE initrd did not run; see {log.path}"


@pytest.mark.slow
def test_a_uefi_machine_boots_the_hwe_entry_chosen_in_grubs_menu_through_the_shim(imported, tmp_path):
    log = boot(
        imported(menu_timeout=120), keep="qemu-ubuntu-iso-uefi-hwe-serial.log", bootfile=SHIM,
        firmware=ovmf_firmware(tmp_path), timeout=360, machine="q35", nic=FIRMWARE_NIC,
        keys=[("noble-hwe installer (install-", ["down", "ret"])], until=(HWE_BANNER, *INSTALLER_STARTED),
    )  # fmt: skip
    # GRUB marks the highlighted entry with "*"; chosen with Enter, it boots it without a "Booting" line.
    assert "*noble-hwe installer (install-" in log.text, f"the HWE entry was not highlighted; see {log.path}"
    hwe_linux = r"BOOT_IMAGE=/maas/amd64/base/noble/install-[0-9a-f]+/hwe-linux "
    assert re.match(hwe_linux, command_line(log)), f"GRUB did not load hwe-linux; see {log.path}"
    assert HWE_BANNER in log.text, f"the HWE initrd did not run; see {log.path}"


@pytest.mark.slow
def test_with_secure_boot_on_the_shim_refuses_a_grub_whose_bytes_changed(imported, tmp_path):
    """The other side of the test above: the chain is verified, not merely run, so a GRUB that is not
    what its vendor signed stops the boot at the shim, before any menu."""
    root = imported()
    grub = root / "maas/amd64/base/grubx64.efi"
    changed = bytearray(grub.read_bytes())
    changed[0x2000] ^= 0xFF  # in the code, which the signature's hash covers
    grub.unlink()  # a link into the loader set: leave the installed file alone
    grub.write_bytes(changed)
    log = boot(
        root, keep="qemu-ubuntu-iso-secure-boot-refused-serial.log", bootfile=SHIM,
        firmware=ovmf_firmware(tmp_path, secure_boot=True), timeout=420, machine="q35", nic=FIRMWARE_NIC,
        until=("Security Violation", "Welcome to GRUB"),
    )  # fmt: skip
    assert "Fetching Netboot Image maas/amd64/base/grubx64.efi" in log.text, f"no shim; see {log.path}"
    assert "Verification failed: (0x1A) Security Violation" in log.text, f"not refused; see {log.path}"
    assert "Welcome to GRUB" not in log.text
