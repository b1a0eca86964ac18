"""A pre-boot loader set must be complete: pxelinux.0 with its ldlinux.c32, a shim with its GRUB (issue 12 item 6)."""

from __future__ import annotations

import pytest

from pxeimport.layouts.base import LOADER_NEEDS, LayoutError, RemoteFile, Wanted, incomplete_loaders
from tests.support.tree import base, install_dir
from tools.archive import netboot_files

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def remote(*names: str) -> Wanted:
    return Wanted(files=[RemoteFile(n, f"http://mirror.example/netboot/{n}", "a" * 64) for n in names])


@pytest.mark.parametrize(
    ("names", "missing"),
    [
        (["pxelinux.0", "ldlinux.c32"], []),
        (["pxelinux.0"], [("pxelinux.0", "ldlinux.c32")]),
        (["bootnetx64.efi", "grubx64.efi", "pxelinux.0", "ldlinux.c32"], []),
        (["bootnetx64.efi", "pxelinux.0", "ldlinux.c32"], [("bootnetx64.efi", "grubx64.efi")]),
        (["bootx64.efi", "grubaa64.efi"], [("bootx64.efi", "grubx64.efi")]),
        (["bootaa64.efi"], [("bootaa64.efi", "grubaa64.efi")]),
        (["bootnetia32.efi", "grubia32.efi"], []),
        # What needs nothing beside it may come alone.
        (["grubx64.efi"], []),
        (["ldlinux.c32"], []),
    ],
)
def test_a_loader_without_its_companion_is_found(names, missing):
    assert [(loader, needed) for loader, needed, _ in incomplete_loaders(names)] == missing


def test_every_loader_rule_names_a_file_that_is_not_itself_a_loader():
    assert all(needed not in LOADER_NEEDS for needed, _ in LOADER_NEEDS.values())


def test_an_incomplete_set_is_a_layout_error_naming_the_loader_and_what_it_lacks():
    with pytest.raises(LayoutError, match=r"netboot/pxelinux.0 has no ldlinux.c32 beside it .*Failed to load"):
        remote("pxelinux.0", "grubx64.efi", "bootnetx64.efi").check_loader_set()


def test_a_complete_set_passes():
    remote("pxelinux.0", "ldlinux.c32", "bootnetx64.efi", "grubx64.efi").check_loader_set()


@pytest.mark.django_db
def test_a_new_loader_set_without_ldlinux_keeps_the_working_pair_and_fails_the_item(archive, import_pxe, tftp_root):
    first = netboot_files("v1")
    archive.publish("bookworm", "amd64", first)
    assert import_pxe(*ARGS).code == 0
    archive.publish("bookworm", "amd64", netboot_files("v2", ldlinux=False))

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "amd64 pre-boot loader (from bookworm) failed" in result.stderr
    assert "pxelinux.0 has no ldlinux.c32 beside it" in result.stderr
    assert (base(tftp_root, "amd64") / "pxelinux.0").read_bytes() == first["pxelinux.0"]
    assert (base(tftp_root, "amd64") / "ldlinux.c32").read_bytes() == first["boot-screens/ldlinux.c32"]
    # The release's own files are not held back by its loaders.
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == netboot_files("v2")["linux"]


@pytest.mark.django_db
def test_a_shim_without_its_grub_is_not_installed(archive, import_pxe, tftp_root):
    files = netboot_files("v1", uefi=True)
    del files["grubx64.efi"]
    archive.publish("bookworm", "amd64", files)

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "bootnetx64.efi has no grubx64.efi beside it" in result.stderr
    assert not (base(tftp_root, "amd64") / "bootnetx64.efi").exists()
    assert not (base(tftp_root, "amd64") / "pxelinux.0").exists()
