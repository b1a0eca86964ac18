"""Machines boot what the anaconda-iso layout imported (QEMU, TCG, its built-in DHCP and TFTP), from a root an
operator would have: two saved boot sources, an Ubuntu one that feeds amd64's loaders and an AlmaLinux (or
Fedora) one. The stand-in boot ISOs hold Debian's real netboot kernel and initrd at Anaconda's paths
(images/pxeboot/), so the kernel starts and prints the command line the generated menu gave it: the
installer tree's URL in the HTTP root (inst.stage2) and ip=dhcp. BIOS through pxelinux, UEFI through the
signed shim and GRUB, with Secure Boot on too (Debian's kernel is signed by the shim's vendor: a real
AlmaLinux kernel under Debian's shim is not, which the run warns about).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from pxeimport.models import BootSource
from tests.support.qemu import FIRMWARE_NIC, KERNEL_STARTED, boot, command_line, ovmf_firmware
from tests.support.selection import iso_source
from tests.support.ubuntu_iso import HTTP_URL, http_root, parts, server, upstream  # noqa: F401 (fixtures)
from tools.anaconda_iso import IsoDirectory, boot_iso
from tools.ubuntu_iso import UbuntuIsoTree

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@dataclass(frozen=True)
class Family:
    """One distribution's stand-in ISO directory and the saved source that imports it."""

    name: str
    version: str
    iso: str
    directory: str
    checksum_list: str
    url: str
    release: str

    @property
    def slug(self) -> str:
        return self.name.lower()


ALMALINUX = Family(
    "AlmaLinux", "9.5", "AlmaLinux-9.5-x86_64-boot.iso", "almalinux/9/isos/x86_64", "CHECKSUM", "almalinux/", "9"
)
FEDORA = Family(
    "Fedora", "41-1.4", "Fedora-Server-netinst-x86_64-41-1.4.iso", "fedora/linux/releases/41/Server/x86_64/iso",
    "Fedora-Server-41-1.4-x86_64-CHECKSUM", "fedora/linux/releases/{release}/Server/{basearch}/iso/", "41",
)  # fmt: skip


def imported(family: Family, parts, upstream: UbuntuIsoTree, server, root: Path, signer, settings) -> str:
    """Import both saved sources into `root` with `family`'s release the menus' default; the tree's URL."""
    iso = boot_iso(upstream.root / family.iso, family.name, family.version, parts["linux"], parts["initrd"], b"2\n")
    directory = IsoDirectory(upstream.root, family.directory, signer)
    directory.add(family.iso, iso)
    directory.write_list(family.checksum_list)
    BootSource.objects.update(enabled=False)
    iso_source(
        "ubuntu-loopback", "ubuntu-iso", server.url + "releases/", "noble", signer.keyring,
        loader_archive=server.url + "ubuntu/dists/",
    )  # fmt: skip
    iso_source(family.slug, "anaconda-iso", server.url + family.url, family.release, signer.keyring)
    settings.PXEIMPORT_MENU_DEFAULT = family.release
    out, err = StringIO(), StringIO()
    call_command("import_pxe_files", "--tftproot", str(root), stdout=out, stderr=err)
    assert "3 installed, 0 unchanged, 0 skipped, 0 failed" in out.getvalue(), out.getvalue() + err.getvalue()
    return f"{HTTP_URL}/images/{family.slug}/{family.release}/{hashlib.sha256(iso.read_bytes()).hexdigest()[:16]}/"


@pytest.mark.parametrize("family", [ALMALINUX, FEDORA], ids=lambda f: f.slug)
def test_a_bios_machine_boots_the_entry_through_pxelinux_with_the_installer_tree_named(
    family, parts, upstream, server, tftp_root, http_root, signer, settings
):
    tree = imported(family, parts, upstream, server, tftp_root, signer, settings)
    log = boot(
        tftp_root, keep=f"qemu-anaconda-{family.slug}-bios-serial.log", bootfile="maas/amd64/base/pxelinux.0",
        firmware=[], timeout=240, until=("Command line:",),
    )  # fmt: skip
    assert f"pxeimport: booting {family.release}" in log.text, f"pxelinux did not show the menu; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    line = command_line(log.text)
    assert line.startswith(f"BOOT_IMAGE={family.release}/install-"), f"not the {family.name} entry: {line}"
    assert f"inst.stage2={tree} ip=dhcp console=ttyS0,115200" in line, line


@pytest.mark.parametrize(
    ("family", "secure_boot"), [(ALMALINUX, False), (ALMALINUX, True), (FEDORA, False)], ids=["uefi", "sb", "fedora"]
)
def test_a_uefi_machine_boots_the_entry_through_the_shim_and_grub(
    family, secure_boot, parts, upstream, server, tftp_root, http_root, signer, settings, tmp_path
):
    tree = imported(family, parts, upstream, server, tftp_root, signer, settings)
    log = boot(
        tftp_root, keep=f"qemu-anaconda-{family.slug}-{'secure-boot' if secure_boot else 'uefi'}-serial.log",
        bootfile="maas/amd64/base/bootx64.efi", firmware=ovmf_firmware(tmp_path, secure_boot=secure_boot),
        timeout=420, machine="q35", nic=FIRMWARE_NIC, until=("Command line:",),
    )  # fmt: skip
    entry = f"{family.release}: {family.name} {family.version} installer (install-"
    assert entry in log.text, f"GRUB did not show the generated menu's entry; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
    if secure_boot:
        assert "EFI stub: UEFI Secure Boot is enabled." in log.text, f"Secure Boot was off; see {log.path}"
    line = command_line(log.text)
    assert line.startswith(f"BOOT_IMAGE=/maas/amd64/base/{family.release}/install-"), f"not {family.name}: {line}"
    assert f"inst.stage2={tree} ip=dhcp console=ttyS0,115200" in line, line
