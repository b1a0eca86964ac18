"""A selection naming what its source does not offer is refused whole: exit 2, what is offered named, nothing
retired (issue 20, case 2: an arch typed `x86_64` in the admin retired amd64 and deleted it after the grace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxeimport.models import BootSource
from tests.support.commands import CommandResult
from tests.support.selection import import_files, saved_source
from tests.support.tree import base
from tools.archive import netboot_files


@pytest.fixture
def source(archive, archive_server, signer, settings) -> BootSource:
    settings.PXEIMPORT_GRACE_SECONDS = 0  # what a run retires would go at the next
    for arch in ("amd64", "arm64"):
        archive.publish("bookworm", arch, netboot_files(f"bookworm-{arch}"))
    return saved_source(archive_server.url + "dists/", signer.keyring, releases=("bookworm",))


def run(tftp_root: Path, *args: str) -> CommandResult:
    return import_files(tftp_root, *args)


@pytest.mark.django_db
def test_an_arch_typed_wrong_in_the_admin_is_refused_and_the_served_arch_stays(source, tftp_root):
    assert run(tftp_root).code == 0
    source.arches.filter(name="amd64").update(name="x86_64")

    for _ in range(2):  # grace 0: a second run would delete what the first retired
        result = run(tftp_root)
        assert result.code == 2, result.stderr
        assert "InRelease (verified) lists no installer for x86_64; it offers amd64, arm64" in result.stderr
        assert "retired nothing: the saved selection names what its source does not offer (x86_64/bookworm)" in (
            result.stdout
        )
        assert "the selection names what its source does not offer" in result.stderr
        assert "retired amd64" not in result.stdout and "removed amd64" not in result.stdout
        assert "LABEL bookworm" in (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
        assert (base(tftp_root, "amd64") / "bookworm" / "install" / "linux").is_file()
        assert (base(tftp_root, "amd64") / "pxelinux.0").exists()


@pytest.mark.django_db
def test_a_release_name_no_archive_or_distro_info_knows_is_refused_as_a_typo(source, tftp_root):
    assert run(tftp_root).code == 0
    source.releases.filter(name="bookworm").update(name="bookwrom")
    source.current_release = "bookwrom"
    source.save()

    result = run(tftp_root)

    assert result.code == 2
    assert "bookwrom/: no such release (neither InRelease nor Release; 'bookwrom' is not a Debian" in result.stderr
    assert (base(tftp_root, "amd64") / "bookworm" / "install" / "linux").is_file()
    assert "LABEL bookworm" in (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()


@pytest.mark.django_db
def test_a_release_the_mirror_lacks_but_that_exists_is_an_ordinary_failure_not_a_refusal(source, tftp_root):
    """trixie is real (distro-info knows it): a mirror without it is the mirror's trouble, exit 1."""
    source.releases.create(name="trixie")

    result = run(tftp_root)

    assert result.code == 1, result.stderr
    assert "no such release" not in result.stderr and "does not offer" not in result.stderr


@pytest.mark.django_db
def test_the_command_line_arch_typo_is_refused_too(source, tftp_root, archive_server, signer):
    result = run(tftp_root, "--archive", archive_server.url + "dists/", "--keyring", str(signer.keyring),
                 "--arch", "amd46", "--release", "bookworm", "--current-release", "bookworm")  # fmt: skip

    assert result.code == 2
    assert "lists no installer for amd46; it offers amd64, arm64" in result.stderr


@pytest.mark.django_db
def test_a_release_selected_again_beside_a_typo_goes_back_on_the_menus(source, archive, tftp_root, settings):
    """Found by the soak (tools/soak): a run refused for a typo retired nothing, and put nothing back either, so a
    release retired earlier and selected again stayed off the menus while served and selected."""
    settings.PXEIMPORT_GRACE_SECONDS = 3600
    for arch in ("amd64", "arm64"):
        archive.publish("trixie", arch, netboot_files(f"trixie-{arch}"))
    source.releases.create(name="trixie")
    assert run(tftp_root).code == 0
    source.releases.filter(name="trixie").delete()
    assert run(tftp_root).code == 0  # trixie retired: off the menus, its files kept for the grace period
    assert "LABEL trixie" not in (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    source.releases.create(name="trixie")
    source.releases.create(name="trixei")  # and a typo beside it

    result = run(tftp_root)

    assert result.code == 2, result.stderr
    assert "LABEL trixie" in (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    assert "put back amd64/trixie: selected again; on the boot menus again, nothing goes" in result.stdout
