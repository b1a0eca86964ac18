"""Taking a release or an arch out of the selection retires it; one that vanished upstream stays (issue 12 item 11)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pxeimport.admin.sources import SelectedArchForm, SelectedReleaseForm
from pxeimport.importer.retirement import MARK, retire_unselected
from pxeimport.items import Item, ItemKind, Source
from pxeimport.menus import HEADER, BootMenus
from pxeimport.models import BootSource
from pxeimport.tftproot import TftpRoot
from tests.support.commands import CommandResult
from tests.support.selection import import_files, saved_source
from tests.support.tree import base, snapshot
from tools.archive import netboot_files

SOURCE = Source(name="mirror", url="http://mirror.example/dists/")
GRACE = 3600.0


def items(arch: str, *releases: str) -> list[Item]:
    return [Item(SOURCE, arch, releases[0], ItemKind.LOADER)] + [
        Item(SOURCE, arch, r, ItemKind.INSTALL) for r in releases
    ]


def install_release(root: TftpRoot, tmp_path: Path, arch: str, release: str) -> Path:
    kernel = tmp_path / f"{arch}-{release}-linux"
    kernel.write_bytes(f"kernel {arch} {release}".encode())
    return root.install(root.install_slot(arch, release), "0123456789abcdef", {"linux": kernel}, {"linux": "0" * 64})


@pytest.fixture
def root(tmp_path: Path) -> TftpRoot:
    return TftpRoot(tmp_path / "tftpboot", grace_seconds=GRACE)


# The judging logic -------------------------------------------------------------------------------


def test_a_release_not_planned_is_marked_then_removed_after_the_grace_period(root, tmp_path):
    install_release(root, tmp_path, "amd64", "bookworm")
    install_release(root, tmp_path, "amd64", "buster")
    plan = items("amd64", "bookworm")

    said = retire_unselected(root, plan, now=1000.0).said

    assert said == [
        f"retired amd64/buster: not in the saved selection; off the boot menus now, its files go in {GRACE:.0f} s"
    ]
    assert (root.base_dir("amd64") / "buster" / MARK).read_text() == "1000\n"
    assert retire_unselected(root, plan, now=1000.0 + GRACE - 1).said == []
    assert (root.base_dir("amd64") / "buster").is_dir()

    assert retire_unselected(root, plan, now=1000.0 + GRACE).said == [
        f"removed amd64/buster: out of the saved selection for more than {GRACE:.0f} s"
    ]
    assert not (root.base_dir("amd64") / "buster").exists()
    assert (root.base_dir("amd64") / "bookworm" / "install" / "linux").is_file()


def test_a_release_selected_again_before_the_grace_period_ends_is_kept(root, tmp_path):
    install_release(root, tmp_path, "amd64", "bookworm")
    install_release(root, tmp_path, "amd64", "buster")
    retire_unselected(root, items("amd64", "bookworm"), now=1000.0)

    assert retire_unselected(root, items("amd64", "bookworm", "buster"), now=1000.0 + 10).said == [
        "put back amd64/buster: selected again; on the boot menus again, nothing goes"
    ]

    assert not (root.base_dir("amd64") / "buster" / MARK).exists()
    assert retire_unselected(root, items("amd64", "bookworm", "buster"), now=1000.0 + 2 * GRACE).said == []
    assert (root.base_dir("amd64") / "buster" / "install" / "linux").is_file()


def test_an_arch_not_planned_loses_its_menus_at_once_and_its_files_after_the_grace_period(root, tmp_path):
    install_release(root, tmp_path, "i386", "bookworm")
    menus = root.base_dir("i386")
    (menus / "pxelinux.cfg").mkdir()
    (menus / "pxelinux.cfg" / "default").write_text(f"# {HEADER}\nDEFAULT bookworm\n")
    (menus / "grub").mkdir()
    (menus / "grub" / "grub.cfg").write_text("# the operator's own\n")

    said = retire_unselected(root, items("amd64", "bookworm"), now=1000.0).said
    assert said[0].startswith("retired i386 (bookworm): not in the saved selection")  # the row names what went

    assert not (menus / "pxelinux.cfg" / "default").exists()
    assert (menus / "grub" / "grub.cfg").exists()  # not pxeimport's: left alone
    assert (menus / "bookworm" / "install" / "linux").is_file()
    removed = retire_unselected(root, items("amd64", "bookworm"), now=1000.0 + GRACE).said[0]
    assert removed.startswith("removed i386 (bookworm): out of the saved selection")  # named again: see below
    assert not (root.maas / "i386").exists()


def test_directories_pxeimport_did_not_make_are_left_alone(root, tmp_path):
    install_release(root, tmp_path, "amd64", "bookworm")
    own = root.base_dir("amd64") / "operators-files"
    own.mkdir()
    (own / "memtest86+.bin").write_bytes(b"x")

    assert retire_unselected(root, items("amd64", "bookworm"), now=1000.0).said == []
    assert retire_unselected(root, items("amd64", "bookworm"), now=1000.0 + 2 * GRACE).said == []
    assert (own / "memtest86+.bin").exists()


def test_menus_name_only_planned_releases_when_the_plan_is_the_whole_selection(root, tmp_path):
    for release in ("bookworm", "buster"):
        install_release(root, tmp_path, "amd64", release)
    menus = BootMenus(root)

    [kept] = menus.write(items("amd64", "bookworm"), now=1000.0)
    assert kept.releases == ["bookworm", "buster"]

    [narrowed] = menus.write(items("amd64", "bookworm"), now=1001.0, only_planned=True)
    assert narrowed.releases == ["bookworm"]
    assert "buster" not in (root.base_dir("amd64") / "pxelinux.cfg" / "default").read_text()
    assert "buster" not in (root.base_dir("amd64") / "grub" / "grub.cfg").read_text()


# End to end, from the saved selection --------------------------------------------------------------


@pytest.fixture
def source(archive, archive_server, signer, settings) -> BootSource:
    settings.PXEIMPORT_GRACE_SECONDS = 0  # files go at the first retiring run after the one that retires
    for release in ("bookworm", "trixie"):
        for arch in ("amd64", "i386"):
            archive.publish(release, arch, netboot_files(f"{release}-{arch}", uefi=True))
    return saved_source(archive_server.url + "dists/", signer.keyring, releases=("bookworm", "trixie"))


def run(tftp_root: Path, *args: str) -> CommandResult:
    return import_files(tftp_root, *args)


def menu(tftp_root: Path, arch: str = "amd64") -> str:
    return (base(tftp_root, arch) / "pxelinux.cfg" / "default").read_text()


@pytest.mark.django_db
def test_a_release_taken_out_of_the_selection_leaves_the_menus_then_the_disk(source, tftp_root):
    assert run(tftp_root).code == 0
    assert "trixie" in menu(tftp_root)
    source.releases.filter(name="trixie").delete()

    first = run(tftp_root)

    assert first.code == 0, first.stderr
    assert "retired amd64/trixie" in first.stdout
    assert "trixie" not in menu(tftp_root) and "bookworm" in menu(tftp_root)
    assert (base(tftp_root, "amd64") / "trixie" / "install" / "linux").is_file()  # nodes mid-boot finish

    second = run(tftp_root)

    assert "removed amd64/trixie" in second.stdout
    assert not (base(tftp_root, "amd64") / "trixie").exists()


@pytest.mark.django_db
def test_while_no_selected_release_is_served_the_ones_served_before_stay_on_the_menus_and_the_disk(
    source, archive, tftp_root
):
    """Issue 20, case 1 (`make demo`, then `make import`): every old release deselected, the new one failing.
    The run took the menus away and retired the old releases: the loaders stayed served, with no menu, so
    no node of the arch booted. Now the old ones stay until a selected release is served."""
    assert run(tftp_root).code == 0
    source.releases.all().delete()
    source.releases.create(name="forky")  # not published: its item fails

    for _ in range(2):  # grace 0: a second run would have deleted what the first retired
        result = run(tftp_root)
        assert result.code == 1 and "retired amd64/" not in result.stdout and "removed amd64/" not in result.stdout
        assert (
            "kept amd64/bookworm: not in the saved selection, but none of amd64's selected releases (forky) "
            "is served yet; it goes once one is"
        ) in result.stdout
        assert "LABEL bookworm" in menu(tftp_root) and "LABEL trixie" in menu(tftp_root)
        assert "bookworm installer" in (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text()
        assert (base(tftp_root, "amd64") / "bookworm" / "install" / "linux").is_file()
        assert not (base(tftp_root, "amd64") / "bookworm" / MARK).exists()

    archive.publish("forky", "amd64", netboot_files("forky-amd64", uefi=True))
    archive.publish("forky", "i386", netboot_files("forky-i386", uefi=True))
    result = run(tftp_root)
    assert result.code == 0 and "retired amd64/bookworm" in result.stdout and "retired amd64/trixie" in result.stdout
    assert "LABEL forky" in menu(tftp_root) and "LABEL bookworm" not in menu(tftp_root)


@pytest.mark.django_db
def test_a_selected_release_that_vanished_upstream_is_kept_in_the_menus_and_on_disk(source, archive, tftp_root):
    assert run(tftp_root).code == 0
    archive.remove("trixie", "amd64")
    archive.sign_release("trixie")

    for _ in range(2):
        result = run(tftp_root)
        # The signed Release now lists i386's installer only: the selection names what the source does not
        # offer any more, a selection to fix (exit 2), and nothing is retired meanwhile.
        assert result.code == 2 and "amd64/trixie install failed" in result.stderr
        assert "lists no installer for amd64; it offers i386" in result.stderr

    assert "trixie" in menu(tftp_root)
    assert (base(tftp_root, "amd64") / "trixie" / "install" / "linux").is_file()
    assert not (base(tftp_root, "amd64") / "trixie" / MARK).exists()


@pytest.mark.django_db
def test_a_run_narrowed_by_release_on_the_command_line_retires_nothing(source, tftp_root):
    assert run(tftp_root).code == 0

    for _ in range(2):
        result = run(tftp_root, "--release", "bookworm")
        assert result.code == 0, result.stderr
        assert "retired" not in result.stdout

    assert "trixie" in menu(tftp_root)
    assert (base(tftp_root, "amd64") / "trixie" / "install" / "linux").is_file()


@pytest.mark.django_db
def test_an_arch_taken_out_loses_its_menus_then_its_loaders_and_releases(source, tftp_root):
    source.arches.create(name="i386")
    assert run(tftp_root).code == 0
    assert "i386" in (tftp_root / "grub" / "grub.cfg").read_text()
    source.arches.filter(name="i386").delete()

    first = run(tftp_root)

    assert first.code == 0, first.stderr
    assert "retired i386" in first.stdout
    assert not (base(tftp_root, "i386") / "pxelinux.cfg" / "default").exists()
    assert not (base(tftp_root, "i386") / "grub" / "grub.cfg").exists()
    assert "i386" not in (tftp_root / "grub" / "grub.cfg").read_text()
    assert (base(tftp_root, "i386") / "pxelinux.0").exists()  # for the grace period

    assert "removed i386" in run(tftp_root).stdout
    assert not (tftp_root / "maas" / "i386").exists()
    assert "bookworm" in menu(tftp_root)


def test_the_admin_says_that_deselecting_retires_and_vanishing_upstream_does_not():
    for form in (SelectedReleaseForm(), SelectedArchForm()):
        text = form.fields["name"].help_text
        assert "retires it" in text and "grace period" in text and "vanished upstream" in text
        assert "--release" in text


def housekeeping(output: str) -> list[str]:
    verbs = ("retired ", "removed ", "would retire ", "would remove ")
    return sorted(line for line in output.splitlines() if line.startswith(verbs))


@pytest.mark.django_db
def test_a_dry_run_says_every_retirement_and_deletion_a_real_run_then_does(source, tftp_root):
    source.arches.create(name="i386")
    assert run(tftp_root).code == 0
    release_dir = base(tftp_root, "amd64") / "bookworm"
    live = (release_dir / "install").resolve()
    superseded = release_dir / "install-0123456789abcdef"  # an old version past the grace period (0 s here)
    shutil.copytree(live, superseded)
    source.releases.filter(name="trixie").delete()
    source.arches.filter(name="i386").delete()
    before = snapshot(tftp_root)

    dry = run(tftp_root, "--dry-run")

    assert dry.code == 0, dry.stderr
    assert snapshot(tftp_root) == before, "a dry run changed the TFTP root"
    said = housekeeping(dry.stdout)
    assert any(line.startswith("would retire amd64/trixie: not in the saved selection") for line in said), said
    assert any(
        line.startswith("would retire i386 (bookworm, trixie): ") and "pre-boot loaders too" in line for line in said
    ), said
    assert f"would remove {superseded.relative_to(tftp_root)}: superseded, past the grace period" in said

    real = run(tftp_root)

    assert real.code == 0, real.stderr
    assert [line.replace("would retire", "retired").replace("would remove", "removed") for line in said] == (
        housekeeping(real.stdout)
    )
    assert not superseded.exists() and "trixie" not in menu(tftp_root)
    # The next dry run says what the next real run deletes: the retired release and arch, past the grace period.
    before = snapshot(tftp_root)
    said = housekeeping(run(tftp_root, "--dry-run").stdout)
    assert snapshot(tftp_root) == before
    assert said == ["would remove amd64/trixie: out of the saved selection for more than 0 s",
                    "would remove i386 (bookworm, trixie): out of the saved selection for more than 0 s"]  # fmt: skip
    assert [line.removeprefix("would ").replace("remove", "removed", 1) for line in said] == (
        housekeeping(run(tftp_root).stdout)
    )


@pytest.mark.django_db
def test_a_dry_run_says_which_boot_menus_a_real_run_writes_or_removes_and_writes_none(source, archive, tftp_root):
    assert run(tftp_root).code == 0
    source.releases.all().delete()
    source.releases.create(name="forky")  # not published: nothing selected is served, so the old ones stay
    before = snapshot(tftp_root)

    dry = run(tftp_root, "--dry-run")

    assert snapshot(tftp_root) == before
    assert "would keep amd64/bookworm: not in the saved selection" in dry.stdout
    assert "would remove pxelinux.cfg/default" not in dry.stdout and "would retire amd64/" not in dry.stdout
    assert "kept amd64/bookworm: not in the saved selection" in run(tftp_root).stdout

    archive.publish("forky", "amd64", netboot_files("forky-amd64", uefi=True))
    archive.publish("forky", "i386", netboot_files("forky-i386", uefi=True))
    before = snapshot(tftp_root)
    dry = run(tftp_root, "--dry-run")
    assert snapshot(tftp_root) == before
    assert "amd64 boot menus: would write pxelinux.cfg/default, grub/grub.cfg (default forky)" in dry.stdout
    assert "would retire amd64/bookworm" in dry.stdout
    assert "LABEL forky" not in menu(tftp_root)
    real = run(tftp_root).stdout
    assert "amd64 boot menus: wrote pxelinux.cfg/default, grub/grub.cfg (default forky)" in real
    assert "retired amd64/bookworm" in real


@pytest.mark.django_db
def test_a_retired_arch_put_back_on_the_menus_gets_a_new_grace_period_not_the_old_one(source, settings, tftp_root):
    """Found by a newcomer: make import (i386 retired), make demo (a run that retires nothing writes i386's menus
    again), then an import past the old mark's grace deleted i386 while its menus had just named it."""
    settings.PXEIMPORT_GRACE_SECONDS = 60
    source.arches.create(name="i386")
    assert run(tftp_root).code == 0
    source.arches.filter(name="i386").delete()
    assert "retired i386" in run(tftp_root).stdout
    assert not (base(tftp_root, "i386") / "pxelinux.cfg" / "default").exists()
    marked = base(tftp_root, "i386").parent / MARK
    marked.write_text("1000\n")  # retired long ago
    assert run(tftp_root, "--arch", "i386", "--release", "bookworm").code == 0  # narrowed: menus back, no retiring
    assert (base(tftp_root, "i386") / "pxelinux.cfg" / "default").exists()

    result = run(tftp_root)

    assert "retired i386 (bookworm, trixie): not in the saved selection; off the boot menus now" in result.stdout
    assert "removed i386" not in result.stdout
    assert (base(tftp_root, "i386") / "bookworm" / "install" / "linux").is_file()
    assert not (base(tftp_root, "i386") / "pxelinux.cfg" / "default").exists()
    assert float(marked.read_text()) > 1000


@pytest.mark.django_db
def test_a_narrowed_run_puts_back_on_the_menus_only_what_it_served_never_what_was_retired(source, settings, tftp_root):
    """Found on a rack: a run narrowed by hand rewrote the menus from every release on disk, so releases a
    retiring run had taken off them (files kept for the grace period) were offered again."""
    settings.PXEIMPORT_GRACE_SECONDS = 3600
    assert run(tftp_root).code == 0
    source.releases.filter(name="trixie").delete()
    assert "retired amd64/trixie" in run(tftp_root).stdout

    assert run(tftp_root, "--release", "bookworm").code == 0
    assert "trixie" not in menu(tftp_root) and "bookworm" in menu(tftp_root)
    assert (base(tftp_root, "amd64") / "trixie" / MARK).is_file()

    assert run(tftp_root, "--release", "trixie").code == 0  # asked for by name, and served: back, unmarked
    assert "trixie" in menu(tftp_root)
    assert not (base(tftp_root, "amd64") / "trixie" / MARK).exists()


def test_an_arch_removed_after_a_retirement_whose_run_row_was_lost_names_its_releases(root, tmp_path):
    """A run killed after it marked the arch retired never wrote its row; the run that deletes the arch is
    then the only one to say which releases left (found by the soak: seed 4, night 121)."""
    for release in ("bookworm", "trixie"):
        install_release(root, tmp_path, "i386", release)
    retire_unselected(root, items("amd64", "bookworm"), now=1000.0)  # its "retired i386 (…)" line is lost

    said = retire_unselected(root, items("amd64", "bookworm"), now=1000.0 + GRACE).said

    assert said == [f"removed i386 (bookworm, trixie): out of the saved selection for more than {GRACE:.0f} s"]
