"""A new loader set that lacks a boot file the served set has waits for the operator (issue 20, case 4): the
source's current release changed to one whose netboot carries pxelinux only, and the run deleted the UEFI
loaders, exited 0 and went on writing GRUB menus, so every UEFI node got "file not found"."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxeimport.models import BootSource
from tests.support.commands import CommandResult
from tests.support.selection import import_files, saved_source
from tests.support.tree import base
from tools.archive import netboot_files


@pytest.fixture
def source(archive, archive_server, signer) -> BootSource:
    archive.publish("bookworm", "amd64", netboot_files("bookworm-amd64", uefi=True))
    archive.publish("trixie", "amd64", netboot_files("trixie-amd64"))  # pxelinux only
    return saved_source(archive_server.url + "dists/", signer.keyring, releases=("bookworm", "trixie"))


def run(tftp_root: Path, *args: str) -> CommandResult:
    return import_files(tftp_root, *args)


@pytest.mark.django_db
def test_a_loader_set_that_drops_the_uefi_loaders_is_not_installed_until_the_operator_accepts(source, tftp_root):
    assert run(tftp_root).code == 0
    amd64 = base(tftp_root, "amd64")
    uefi = {"bootnetx64.efi", "grubx64.efi"}
    assert uefi <= {p.name for p in amd64.iterdir()}
    source.current_release = "trixie"
    source.save()

    refused = run(tftp_root)

    assert refused.code == 1
    assert (
        "the new amd64 loader set (from trixie) lacks bootnetx64.efi, grubx64.efi, which the served set has"
        in refused.stderr
    )
    assert "kept _loader-" in refused.stderr and "--accept-loader-change" in refused.stderr
    assert uefi <= {p.name for p in amd64.iterdir() if p.exists()}, "the UEFI loaders must still be served"
    assert (amd64 / "grub" / "grub.cfg").is_file()

    accepted = run(tftp_root, "--accept-loader-change")

    assert accepted.code == 0, accepted.stderr
    assert not uefi & {p.name for p in amd64.iterdir()}
    assert not (amd64 / "grub" / "grub.cfg").exists(), "no GRUB is served: no GRUB menu either"
    assert (amd64 / "pxelinux.cfg" / "default").is_file()


@pytest.mark.django_db
def test_an_arch_that_never_served_a_grub_gets_no_grub_menu(source, tftp_root):
    source.current_release = "trixie"
    source.save()

    assert run(tftp_root).code == 0

    amd64 = base(tftp_root, "amd64")
    assert (amd64 / "pxelinux.cfg" / "default").is_file() and not (amd64 / "grub" / "grub.cfg").exists()
