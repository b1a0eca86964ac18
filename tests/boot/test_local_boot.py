"""The menus' local-disk entry on a real node: QEMU, SeaBIOS and its iPXE ROM, network first, then a local disk.

With PXEIMPORT_MENU_DEFAULT=local the node that boots from the network reaches pxelinux's menu, which hands
it back to the firmware (LOCALBOOT 0), and the firmware boots the disk; unset, the same node gets the
installer (issue 20: a fleet whose boot order puts the network first must not re-enter the installer on
every reboot).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.qemu import (  # noqa: F401 (debian_netboot: a fixture)
    KERNEL_STARTED,
    LOCAL_DISK_MARKER,
    SerialLog,
    boot,
    debian_netboot,
    local_disk,
)
from tools.archive import ArchiveTree

pytestmark = pytest.mark.django_db

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm", "--kernel-opts", "console=ttyS0")


@pytest.fixture
def root(tmp_path, signer, debian_netboot, archive_server, tftp_root) -> Path:  # noqa: F811
    # The archive_server fixture serves tmp_path/"archive": Debian's real netboot files laid out there.
    tree = ArchiveTree(tmp_path / "archive", installer_dir="debian-installer", signer=signer)
    tree.publish("bookworm", "amd64", debian_netboot)
    served: Path = tftp_root
    return served


def boot_network_first(root: Path, disk: Path, keep: str) -> SerialLog:
    """A BIOS node with `disk` as its first disk, booting from the network first, until it runs something."""
    return boot(
        root,
        keep=keep,
        bootfile="maas/amd64/base/pxelinux.0",
        firmware=[],
        timeout=240,
        until=(LOCAL_DISK_MARKER, KERNEL_STARTED),
        disk=local_disk(disk),
    )


@pytest.mark.slow
def test_a_network_first_node_boots_its_disk_when_the_menus_default_to_local(root, import_pxe, settings, tmp_path):
    settings.PXEIMPORT_MENU_DEFAULT = "local"
    assert import_pxe(*ARGS).code == 0
    assert "DEFAULT local\n" in (root / "maas/amd64/base/pxelinux.cfg/default").read_text()

    log = boot_network_first(root, tmp_path / "disk.img", "local-boot.log")

    assert "pxeimport: booting local" in log.text, log.path
    assert LOCAL_DISK_MARKER in log.text and KERNEL_STARTED not in log.text, log.path


@pytest.mark.slow
def test_the_same_node_gets_the_installer_when_the_default_is_unset(root, import_pxe, tmp_path):
    assert import_pxe(*ARGS).code == 0

    log = boot_network_first(root, tmp_path / "disk.img", "local-boot-unset.log")

    assert "pxeimport: booting bookworm" in log.text, log.path
    assert KERNEL_STARTED in log.text and LOCAL_DISK_MARKER not in log.text, log.path
