"""A run narrowed on the command line changes only the entries it imports (issue 20, case 3).

The menus are written from what the root serves and what the saved selection chose for each release, never
from one run's items: the options a release's entries got are kept beside its version dirs (menus.writer's
KERNEL_OPTS_FILE) and reused by every run that does not plan it.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from pxeimport.models import BootSource
from tests.support.selection import saved_source
from tests.support.tree import base
from tools.archive import netboot_files

PRESEED = "console=ttyS0,115200 auto=true priority=critical url=http://boot.example.org/preseed.cfg"


@pytest.fixture
def source(archive, archive_server, signer) -> BootSource:
    for release in ("bookworm", "trixie"):
        archive.publish(release, "amd64", netboot_files(f"{release}-amd64", uefi=True))
    return saved_source(
        archive_server.url + "dists/", signer.keyring, releases={"bookworm": PRESEED, "trixie": "priority=low"}
    )


def run(tftp_root: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_pxe_files", "--tftproot", str(tftp_root), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def menus(tftp_root: Path) -> tuple[str, str]:
    return (
        (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text(),
        (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text(),
    )


@pytest.mark.django_db
def test_a_run_narrowed_to_one_release_keeps_the_saved_options_of_the_others(source, archive, tftp_root):
    run(tftp_root)
    archive.publish("trixie", "amd64", netboot_files("trixie-amd64-v2", uefi=True))  # upstream publishes a new trixie

    said = run(tftp_root, "--release", "trixie")

    assert "amd64/trixie" in said
    pxelinux, grub = menus(tftp_root)
    bookworm = pxelinux.split("LABEL bookworm")[1].split("LABEL ")[0]
    assert PRESEED in bookworm, "bookworm, the default entry, lost its saved options"
    assert "DEFAULT bookworm\n" in pxelinux
    assert "console=ttyS0,115200 auto=true priority=critical url=http://boot.example.org/preseed.cfg" in grub
    assert pxelinux.count("priority=low") == 1 and grub.count("priority=low") == 1


@pytest.mark.django_db
def test_options_given_to_a_narrowed_run_reach_only_the_entries_it_imports(source, archive, tftp_root):
    run(tftp_root)
    archive.publish("trixie", "amd64", netboot_files("trixie-amd64-v2", uefi=True))

    run(tftp_root, "--release", "trixie", "--kernel-opts", "priority=medium")

    pxelinux, grub = menus(tftp_root)
    assert pxelinux.split("LABEL trixie")[1].count("priority=medium") == 1
    assert PRESEED in pxelinux.split("LABEL bookworm")[1].split("LABEL ")[0]
    assert grub.count("priority=medium") == 1


@pytest.mark.django_db
def test_a_full_run_brings_every_entry_back_to_the_saved_selection(source, archive, tftp_root):
    run(tftp_root)
    run(tftp_root, "--release", "trixie", "--kernel-opts", "priority=medium")
    source.releases.filter(name="bookworm").update(kernel_opts="priority=high")

    run(tftp_root)

    pxelinux, _ = menus(tftp_root)
    assert "priority=medium" not in pxelinux and PRESEED not in pxelinux
    assert "priority=high" in pxelinux.split("LABEL bookworm")[1].split("LABEL ")[0]
