"""With Secure Boot on, what is served boots even when upstream offers a GRUB the shim revokes (issue 23 item 4):
QEMU (TCG, q35) with OVMF's Secure Boot build and Microsoft's keys PXE-boots Debian's real shim, GRUB and kernel
from the imported root; the upstream then publishes a GRUB whose .sbat is a generation behind the shim's
automatic SBAT level, the import refuses that set, and the node boots the served chain as before."""

from __future__ import annotations

from pathlib import Path

import pefile
import pytest

from tests.support.qemu import FIRMWARE_NIC, KERNEL_STARTED, boot, debian_netboot, ovmf_firmware  # noqa: F401 (a fixture)
from tools.archive import ArchiveTree

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SHIM = "maas/amd64/base/bootnetx64.efi"
ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def revoked_grub(grub: Path, out: Path) -> Path:
    """Debian's GRUB with its .sbat lines set a generation back (grub,5 -> grub,4): what a partly synced mirror
    or an older pocket offers. Its signature no longer matches either; pxeimport refuses it by SBAT first."""
    data = bytearray(grub.read_bytes())
    image = pefile.PE(data=bytes(data), fast_load=True)
    (sbat,) = [s for s in image.sections if s.Name.rstrip(b"\0") == b".sbat"]
    start, end = sbat.PointerToRawData, sbat.PointerToRawData + sbat.SizeOfRawData
    text = bytes(data[start:end])
    assert b"\ngrub,5," in text, text[:200]
    data[start:end] = text.replace(b"\ngrub,5,", b"\ngrub,4,").replace(b"\ngrub.debian,5,", b"\ngrub.debian,4,")
    out.write_bytes(data)
    return out


def test_with_a_revoked_grub_offered_upstream_a_secure_boot_node_still_boots_the_served_chain(
    tmp_path, signer, debian_netboot, archive_server, import_pxe, tftp_root
):
    tree = ArchiveTree(tmp_path / "archive", installer_dir="debian-installer", signer=signer)
    tree.publish("bookworm", "amd64", debian_netboot)
    first = import_pxe(*ARGS, "--kernel-opts", "console=ttyS0,115200")
    assert first.code == 0, first.stderr
    served = (tftp_root / "maas/amd64/base/grubx64.efi").read_bytes()
    offered = dict(debian_netboot, **{"grubx64.efi": revoked_grub(debian_netboot["grubx64.efi"], tmp_path / "g")})
    tree.publish("bookworm", "amd64", offered)

    refused = import_pxe(*ARGS, "--kernel-opts", "console=ttyS0,115200")

    assert refused.code == 1
    assert "grubx64.efi ('grub,4,Free Software Foundation,grub,2.06," in refused.stderr, refused.stderr
    assert "automatic SBAT level 'sbat,1," in refused.stderr
    assert (tftp_root / "maas/amd64/base/grubx64.efi").read_bytes() == served
    log = boot(
        tftp_root, keep="qemu-secure-boot-chain-serial.log", bootfile=SHIM,
        firmware=ovmf_firmware(tmp_path, secure_boot=True), timeout=420, machine="q35", nic=FIRMWARE_NIC,
        until=("Command line:", "Security Violation"),
    )  # fmt: skip
    assert "Fetching Netboot Image maas/amd64/base/grubx64.efi" in log.text, f"no shim; see {log.path}"
    assert "Security Violation" not in log.text, f"the served chain was refused; see {log.path}"
    assert "bookworm installer (install-" in log.text, f"GRUB did not show the generated menu; see {log.path}"
    assert "EFI stub: UEFI Secure Boot is enabled." in log.text, f"Secure Boot was off; see {log.path}"
    assert KERNEL_STARTED in log.text, f"the kernel did not start; see {log.path}"
