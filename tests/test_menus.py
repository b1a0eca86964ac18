"""Boot menus: their text, and how imports write them and keep what they name."""

from __future__ import annotations

import os

import pytest

from pxeimport.menus import BadKernelOptions, MenuEntry, check_kernel_opts, grub_config, pxelinux_config, version_paths
from tests.tree import base, install_dir
from tools.archive import netboot_files

ENTRIES = [
    MenuEntry("bookworm", "install-0123456789abcdef", kernel_opts="console=ttyS0,115200"),
    MenuEntry("trixie", "install-fedcba9876543210"),
]


def test_the_pxelinux_menu_names_kernels_by_version_path_and_boots_the_default_after_the_timeout():
    text = pxelinux_config(ENTRIES, "trixie", 5)
    assert "DEFAULT trixie\nPROMPT 1\nTIMEOUT 50\n" in text
    assert "KERNEL bookworm/install-0123456789abcdef/linux" in text
    assert "APPEND initrd=bookworm/install-0123456789abcdef/initrd.gz console=ttyS0,115200 ---" in text
    assert "APPEND initrd=trixie/install-fedcba9876543210/initrd.gz ---" in text
    assert "/install/" not in text


def test_the_grub_menu_uses_paths_from_the_tftp_root_and_selects_the_default_by_index():
    text = grub_config(ENTRIES, "trixie", 3, "/maas/amd64/base")
    assert "set default=1\nset timeout=3\n" in text
    assert "linux /maas/amd64/base/bookworm/install-0123456789abcdef/linux console=ttyS0,115200 ---" in text
    assert "initrd /maas/amd64/base/trixie/install-fedcba9876543210/initrd.gz" in text


def test_version_paths_finds_every_version_dir_a_menu_names():
    assert version_paths(pxelinux_config(ENTRIES, "trixie", 5)) == {
        "bookworm/install-0123456789abcdef",
        "trixie/install-fedcba9876543210",
    }


@pytest.mark.parametrize("bad", ["a\nKERNEL /evil", "quiet; reboot", 'x="y"', "a\\b", "\x00"])
def test_kernel_options_that_could_break_out_of_a_menu_line_are_refused(bad):
    with pytest.raises(BadKernelOptions):
        check_kernel_opts(bad)


def test_kernel_options_have_their_white_space_folded():
    assert check_kernel_opts("  console=ttyS0   quiet ") == "console=ttyS0 quiet"


pytestmark = pytest.mark.django_db
ARGS = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "trixie")


def test_an_import_writes_both_menus_naming_each_release_by_its_live_version(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("b1", uefi=True))
    archive.publish("trixie", "amd64", netboot_files("t1", uefi=True))

    result = import_pxe(*ARGS, "--kernel-opts", "console=ttyS0,115200")

    assert result.code == 0, result.stderr
    assert "amd64 boot menus: wrote pxelinux.cfg/default, grub/grub.cfg (default trixie)" in result.stdout
    pxelinux = (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    for release in ("bookworm", "trixie"):
        live = os.readlink(install_dir(tftp_root, "amd64", release))
        assert f"KERNEL {release}/{live}/linux" in pxelinux
    assert "console=ttyS0,115200" in pxelinux
    grub = (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text()
    assert "/maas/amd64/base/trixie/install-" in grub
    for name in ("bootnetx64.efi", "grubx64.efi"):
        assert (base(tftp_root, "amd64") / name).read_bytes() == netboot_files("t1", uefi=True)[name]


def test_an_unchanged_import_leaves_the_menus_untouched(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("b1"))
    archive.publish("trixie", "amd64", netboot_files("t1"))
    assert import_pxe(*ARGS).code == 0
    menu = base(tftp_root, "amd64") / "pxelinux.cfg" / "default"
    before = (menu.stat().st_ino, menu.stat().st_mtime_ns)

    assert import_pxe(*ARGS).code == 0

    assert (menu.stat().st_ino, menu.stat().st_mtime_ns) == before


def test_a_version_named_by_a_replaced_menu_outlives_it_by_the_grace_period(archive, import_pxe, tftp_root, settings):
    settings.PXEIMPORT_GRACE_SECONDS = 3600
    archive.publish("bookworm", "amd64", netboot_files("b1"))
    archive.publish("trixie", "amd64", netboot_files("t1"))
    assert import_pxe(*ARGS).code == 0
    first = os.readlink(install_dir(tftp_root, "amd64", "trixie"))
    for tag in ("t2", "t3", "t4"):  # three imports during one node's boot
        archive.publish("trixie", "amd64", netboot_files(tag))
        assert import_pxe(*ARGS).code == 0

    old = install_dir(tftp_root, "amd64", "trixie").parent / first
    assert (old / "linux").read_bytes() == netboot_files("t1")["linux"]
    assert (old / "initrd.gz").read_bytes() == netboot_files("t1")["initrd.gz"]


def test_a_release_named_like_a_menu_directory_is_refused(archive, import_pxe):
    result = import_pxe("--arch", "amd64", "--release", "grub", "--current-release", "grub")
    assert result.code == 2
    assert "reserved" in result.stderr


def test_grubs_fixed_config_paths_lead_to_the_arches_menus(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("b1", uefi=True))
    archive.publish("trixie", "amd64", netboot_files("t1", uefi=True))
    assert import_pxe(*ARGS).code == 0

    debian = (tftp_root / "debian-installer" / "amd64" / "grub" / "grub.cfg").read_text()
    assert "configfile /maas/amd64/base/grub/grub.cfg" in debian
    ubuntu = (tftp_root / "grub" / "grub.cfg").read_text()
    assert 'if [ "$grub_cpu" = "x86_64" ]; then configfile /maas/amd64/base/grub/grub.cfg; fi' in ubuntu


def test_an_operators_own_grub_cfg_at_those_paths_is_left_alone(archive, import_pxe, tftp_root):
    own = tftp_root / "grub" / "grub.cfg"
    own.parent.mkdir(parents=True)
    own.write_text("menuentry 'my own' { true }\n")
    archive.publish("bookworm", "amd64", netboot_files("b1"))
    archive.publish("trixie", "amd64", netboot_files("t1"))

    assert import_pxe(*ARGS).code == 0

    assert own.read_text() == "menuentry 'my own' { true }\n"
