"""Machines boot what the opensuse-iso layout imported (QEMU, TCG, its built-in DHCP and TFTP), from a root an
operator would have: an Ubuntu source that feeds amd64's loaders and an openSUSE Leap one. The stand-in NET
ISO holds Debian's real netboot kernel and initrd at openSUSE's paths (boot/x86_64/loader/), so the kernel
starts and prints the command line the generated menu gave it: the installation system's URL in the HTTP root
(instsys=), the package repository (install=) and netsetup=dhcp. BIOS through pxelinux, UEFI through the
signed shim and GRUB with Secure Boot on (Debian's kernel is signed by the shim's vendor; openSUSE's own
kernel under Debian's shim is not, which the run warns about).
"""

from __future__ import annotations

import hashlib
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from pxeimport.models import BootSource
from tests.support.qemu import FIRMWARE_NIC, KERNEL_STARTED, boot, command_line, ovmf_firmware
from tests.support.selection import iso_source
from tests.support.ubuntu_iso import HTTP_URL, http_root, parts, server, upstream  # noqa: F401 (fixtures)
from tools.opensuse_iso import IsoDirectory, net_iso
from tools.ubuntu_iso import UbuntuIsoTree

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ISO = "openSUSE-Leap-15.6-NET-x86_64-Build710.3-Media.iso"


def imported(parts, upstream: UbuntuIsoTree, server, root: Path, signer, settings) -> str:
    """Import both saved sources into `root`, Leap 15.6 the menus' default; the options its entries carry."""
    iso = net_iso(upstream.root / "leap.iso", parts["linux"], parts["initrd"], label="leap")
    IsoDirectory(upstream.root, "opensuse/distribution/leap/15.6/iso", signer).add(ISO, iso)
    BootSource.objects.update(enabled=False)
    iso_source(
        "ubuntu-loopback", "ubuntu-iso", server.url + "releases/", "noble", signer.keyring,
        loader_archive=server.url + "ubuntu/dists/",
    )  # fmt: skip
    iso_source("leap", "opensuse-iso", server.url + "opensuse/", "15.6", signer.keyring)
    settings.PXEIMPORT_MENU_DEFAULT = "15.6"
    out, err = StringIO(), StringIO()
    call_command("import_pxe_files", "--tftproot", str(root), stdout=out, stderr=err)
    assert "3 installed, 0 unchanged, 0 skipped, 0 failed" in out.getvalue(), out.getvalue() + err.getvalue()
    instsys = f"{HTTP_URL}/images/opensuse/15.6/{hashlib.sha256(iso.read_bytes()).hexdigest()[:16]}/boot/x86_64/root"
    return f"instsys={instsys} install={server.url}opensuse/distribution/leap/15.6/repo/oss/ netsetup=dhcp"


def test_a_bios_machine_boots_the_leap_entry_through_pxelinux_with_the_installation_system_named(
    parts, upstream, server, tftp_root, http_root, signer, settings
):
    options = imported(parts, upstream, server, tftp_root, signer, settings)
    log = boot(
        tftp_root, keep="qemu-opensuse-bios-serial.log", bootfile="maas/amd64/base/pxelinux.0", firmware=[],
        timeout=240, until=("Command line:",),
    )  # fmt: skip
    assert "pxeimport: booting 15.6" in log.text, f"pxelinux did not show the menu; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    line = command_line(log.text)
    assert line.startswith("BOOT_IMAGE=15.6/install-"), f"not the Leap entry: {line}"
    assert f"{options} console=ttyS0,115200" in line, line


def test_a_uefi_machine_with_secure_boot_boots_the_leap_entry_through_the_shim_and_grub(
    parts, upstream, server, tftp_root, http_root, signer, settings, tmp_path
):
    options = imported(parts, upstream, server, tftp_root, signer, settings)
    log = boot(
        tftp_root, keep="qemu-opensuse-secure-boot-serial.log", bootfile="maas/amd64/base/bootx64.efi",
        firmware=ovmf_firmware(tmp_path, secure_boot=True), timeout=420, machine="q35", nic=FIRMWARE_NIC,
        until=("Command line:",),
    )  # fmt: skip
    assert "15.6: openSUSE Leap 15.6 Build710.3 installer (install-" in log.text, f"no Leap entry; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    assert "EFI stub: UEFI Secure Boot is enabled." in log.text, f"Secure Boot was off; see {log.path}"
    line = command_line(log.text)
    assert line.startswith("BOOT_IMAGE=/maas/amd64/base/15.6/install-"), f"not the Leap entry: {line}"
    assert f"{options} console=ttyS0,115200" in line, line
