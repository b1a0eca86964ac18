"""A loader set Secure Boot nodes could not boot is never served (issue 23 item 4): a GRUB the shim's SBAT level
revokes (a partly synced mirror: shim updated, GRUB not yet) is refused and the served set stays; what some
nodes would refuse, or a shim without its MokManager, is a warning of every run and on the status page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from pxeimport.models import BootSource, ImportRun
from tests.support.selection import import_files, saved_source
from tests.support.tree import base
from tools.archive import ArchiveTree, netboot_files
from tools.pe import AUTOMATIC, LATEST, SHIM_SBAT, grub_sbat, pe_image, sbatlevel

pytestmark = pytest.mark.django_db


def publish(archive: ArchiveTree, *, grub: str, mokmanager: bool = True) -> None:
    """bookworm's amd64 netboot with a real-shaped shim (bootnetx64.efi), its GRUB and maybe its MokManager."""
    files: dict[str, bytes] = netboot_files("bookworm-amd64", uefi=True)
    files["bootnetx64.efi"] = pe_image({".sbatlevel": sbatlevel(AUTOMATIC, LATEST), ".sbat": SHIM_SBAT.encode()})
    files["grubx64.efi"] = pe_image({".text": grub.encode()[:16], ".sbat": grub.encode()})
    if mokmanager:
        files["mmx64.efi"] = pe_image({".sbat": SHIM_SBAT.encode()})
    archive.publish("bookworm", "amd64", files)


@pytest.fixture
def source(archive, archive_server, signer) -> BootSource:
    return saved_source(archive_server.url + "dists/", signer.keyring, releases=("bookworm",))


def served_grub(tftp_root: Path) -> bytes:
    return (base(tftp_root, "amd64") / "grubx64.efi").read_bytes()


def test_a_grub_the_shim_revokes_is_refused_naming_both_sbat_lines_and_the_served_set_stays(archive, source, tftp_root):
    publish(archive, grub=grub_sbat(5))
    assert import_files(tftp_root).code == 0
    good = served_grub(tftp_root)
    publish(archive, grub=grub_sbat(4))  # the mirror's GRUB went back a generation (another pocket, a replay)

    refused = import_files(tftp_root)

    assert refused.code == 1
    assert "the new amd64 loader set is refused, for Secure Boot nodes" in refused.stderr
    assert "grubx64.efi ('grub,4,Free Software Foundation,grub,2.06," in refused.stderr
    assert "bootnetx64.efi's automatic SBAT level 'sbat,1,2025021800 shim,4 grub,5'" in refused.stderr
    assert "kept _loader-" in refused.stderr
    assert served_grub(tftp_root) == good, "the GRUB that boots must still be served"


def test_a_grub_only_the_opt_in_level_revokes_is_served_and_the_warning_is_on_the_runs_row(
    archive, source, tftp_root, admin_client, settings
):
    settings.PXEIMPORT_TFTPROOT = str(tftp_root)  # the root the status page speaks for
    publish(archive, grub=grub_sbat(5, "grub.proxmox,1,Proxmox,grub2,2.06-pve1,https://example.org/"), mokmanager=False)

    result = import_files(tftp_root)

    assert result.code == 0, result.stderr
    (said,) = [line for line in result.stderr.splitlines() if line.startswith("Warning: amd64 loaders:")]
    assert "mokutil --set-sbat-policy latest" in said
    # MokManager's absence matters only to a node with a pending MOK request: a note at -v1, not a warning.
    assert "Note: amd64 loaders: no MokManager (mmx64.efi)" in result.stdout
    row = ImportRun.objects.latest("pk")
    assert said.removeprefix("Warning: ") in row.warnings and "MokManager" not in row.warnings
    page = admin_client.get(reverse("admin:status")).content.decode()
    assert "mokutil --set-sbat-policy latest" in page


def test_the_warnings_of_what_is_served_are_repeated_by_every_run_until_the_set_is_fixed(archive, source, tftp_root):
    opt_in = grub_sbat(5, "grub.proxmox,1,Proxmox,grub2,2.06-pve1,https://example.org/")
    publish(archive, grub=opt_in)
    assert import_files(tftp_root).code == 0

    again = import_files(tftp_root, "-v0")

    assert again.code == 0 and again.stdout == ""
    assert again.stderr.count("Warning: amd64 loaders: grubx64.efi ('grub.proxmox,1,") == 1, again.stderr
    publish(archive, grub=grub_sbat(5))
    fixed = import_files(tftp_root)
    assert fixed.code == 0 and "Warning" not in fixed.stderr, fixed.stderr
