"""A grub.cfg that signed GRUBs read before pxeimport's menu: left alone, and said on every run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from pxeimport.menus import HEADER
from pxeimport.menus.grubpaths import grub_prefixes
from pxeimport.menus.writer import BootMenus
from pxeimport.models import ImportRun, RunStatus
from pxeimport.tftproot import TftpRoot
from tests.support.requirements import require_tool
from tools.archive import netboot_files

# What an earlier unpack of Debian's netboot.tar.gz leaves at the fixed path (abridged).
STALE = """if loadfont $prefix/font.pf2 ; then
  set gfxmode=800x600
fi
menuentry 'Install' {
    linux    /debian-installer/amd64/linux vga=788 --- quiet
    initrd   /debian-installer/amd64/initrd.gz
}
"""
LINE = "configfile /maas/amd64/base/grub/grub.cfg"
ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


@pytest.fixture
def menus(tmp_path: Path) -> BootMenus:
    root = TftpRoot(tmp_path / "tftpboot")
    for arch in ("amd64",):
        menu = root.ensure_dir(root.base_dir(arch) / "grub") / "grub.cfg"
        menu.write_text(f"# {HEADER}\n")
    return BootMenus(root)


def plant(menus: BootMenus, relative: str, text: str) -> Path:
    path = menus.root.ensure_dir((menus.root.path / relative).parent) / Path(relative).name
    path.write_text(text)
    return path


def test_signed_grubs_prefixes_are_the_ones_debians_signed_images_carry():
    # Debian 12's grubnetx64.efi.signed: "/grub"; grubnetx64-installer.efi.signed: "/debian-installer/amd64/grub".
    assert grub_prefixes(["amd64"]) == {"grub": ["amd64"], "debian-installer/amd64/grub": ["amd64"]}
    assert grub_prefixes([]) == {}


@pytest.mark.parametrize("relative", ["grub/grub.cfg", "debian-installer/amd64/grub/grub.cfg"])
def test_a_foreign_grub_cfg_at_a_signed_grubs_path_is_named_with_the_line_that_fixes_it(menus, relative):
    menus.write_grub_redirects()
    stale = plant(menus, relative, STALE)

    warnings = menus.foreign_grub_configs()

    assert len(warnings) == 1
    assert warnings[0].startswith(f"{stale} was not written by pxeimport")
    assert repr(LINE) in warnings[0]
    assert stale.read_text() == STALE  # the operator's file is left alone


def test_a_grub_cfg_below_the_prefixs_platform_dir_is_not_a_warning_since_no_network_grub_reads_it(menus):
    # GRUB's embedded config tries "[ -e $prefix/x86_64-efi/grub.cfg ]" first, but -e is false over
    # TFTP (the net filesystem lists no directory): see the OVMF boot in test_qemu_boot.py.
    menus.write_grub_redirects()
    plant(menus, "debian-installer/amd64/grub/x86_64-efi/grub.cfg", STALE)
    plant(menus, "grub/x86_64-efi/grub.cfg", STALE)
    assert menus.foreign_grub_configs() == []


def test_the_line_suggested_for_one_arch_is_the_one_pxeimports_own_redirect_holds(menus):
    # That redirect is what the OVMF boot tests boot through (Debian's signed GRUB reads it).
    menus.write_grub_redirects()
    redirect = (menus.root.path / "debian-installer/amd64/grub/grub.cfg").read_text().splitlines()
    plant(menus, "debian-installer/amd64/grub/grub.cfg", STALE)
    (warning,) = menus.foreign_grub_configs()
    assert redirect == [f"# {HEADER}", LINE] and f"the line {LINE!r}" in warning


def test_a_foreign_grub_cfg_that_hands_over_to_pxeimports_menu_is_not_a_warning(menus):
    plant(menus, "grub/grub.cfg", f"set timeout=1\n{LINE}\n")
    plant(menus, "debian-installer/amd64/grub/grub.cfg", f'if [ "$grub_cpu" = "x86_64" ]; then {LINE}; fi\n')
    menus.write_grub_redirects()
    assert menus.foreign_grub_configs() == []


def test_pxeimports_own_redirects_are_not_a_warning(menus):
    assert menus.write_grub_redirects() == ["debian-installer/amd64/grub/grub.cfg", "grub/grub.cfg"]
    assert menus.foreign_grub_configs() == []


def test_the_lines_suggested_for_several_arches_pass_grub_script_check(menus, tmp_path):
    check = require_tool("grub-script-check")
    arm = menus.root.ensure_dir(menus.root.base_dir("arm64") / "grub") / "grub.cfg"
    arm.write_text(f"# {HEADER}\n")
    plant(menus, "grub/grub.cfg", STALE)

    (warning,) = menus.foreign_grub_configs()

    lines = re.findall(r"the line '([^']+)'", warning)
    assert lines == [
        'if [ "$grub_cpu" = "x86_64" ]; then configfile /maas/amd64/base/grub/grub.cfg; fi',
        'if [ "$grub_cpu" = "arm64" ]; then configfile /maas/arm64/base/grub/grub.cfg; fi',
    ]
    suggested = tmp_path / "suggested.cfg"
    suggested.write_text("\n".join(lines) + "\n")
    subprocess.run([check, str(suggested)], check=True)
    plant(menus, "grub/grub.cfg", suggested.read_text())
    assert menus.foreign_grub_configs() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("verbosity", [0, 1])
def test_every_run_says_so_on_stderr_in_its_row_and_on_the_status_page(archive, import_pxe, tftp_root, verbosity):
    archive.publish("bookworm", "amd64", netboot_files("v1", uefi=True))
    stale = tftp_root / "grub" / "grub.cfg"
    stale.parent.mkdir(parents=True)
    stale.write_text(STALE)

    for _ in range(2):  # the first run and one with nothing to install
        result = import_pxe(*ARGS, verbosity=verbosity)
        assert result.code == 0, result.stderr
        assert f"Warning: {stale} was not written by pxeimport" in result.stderr
        assert repr(LINE) in result.stderr
        run = ImportRun.objects.first()
        assert run is not None and run.status == RunStatus.SUCCEEDED
        assert f"{stale} was not written by pxeimport" in run.warnings
    assert stale.read_text() == STALE


@pytest.mark.django_db
def test_the_status_page_shows_the_last_runs_warnings(admin_client, settings):
    settings.PXEIMPORT_TFTPROOT = Path("/srv/tftp")  # the dashboard speaks for its own root's runs
    warning = f"/srv/tftp/grub/grub.cfg was not written by pxeimport ... make it the line {LINE!r}"
    ImportRun.objects.create(
        started=timezone.now(),
        finished=timezone.now(),
        status=RunStatus.SUCCEEDED,
        tftproot="/srv/tftp",
        warnings=warning,
    )
    for name in ("admin:status", "admin:index"):
        html = admin_client.get(reverse(name)).content.decode()
        assert "The last import run warns: /srv/tftp/grub/grub.cfg was not written by pxeimport" in html
        assert "configfile /maas/amd64/base/grub/grub.cfg" in html
