"""The local-disk entry: both menus offer it, and PXEIMPORT_MENU_DEFAULT may make it (or any entry) the default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pxeimport.importer import plan
from pxeimport.items import Item, Selection, Source
from pxeimport.lib import InvalidName, sha256_file
from pxeimport.menus import LOCAL_LABEL, BootMenus, MenuEntry, MenuSettings, grub_config, pxelinux_config
from pxeimport.tftproot import TftpRoot, version_id
from tests.support.grub import grub_accepts

PROJECT = Path(__file__).resolve().parents[2]
ENTRIES = [MenuEntry("bookworm", "install-0123456789abcdef"), MenuEntry("trixie", "install-fedcba9876543210")]
BASE = "/maas/amd64/base"


def test_pxelinux_offers_the_local_disk_last_and_says_so():
    text = pxelinux_config(ENTRIES, "trixie", 5)
    assert text.endswith("\nLABEL local\n  LOCALBOOT 0\n")
    assert "type a label and Enter to choose: bookworm trixie local\n" in text
    assert "SAY   local: the local disk (the next device in the boot order)\n" in text
    assert "DEFAULT trixie\n" in text


def test_grub_offers_the_local_disk_last_as_an_exit_to_the_firmware():
    text = grub_accepts(grub_config(ENTRIES, "trixie", 5, BASE))
    assert text.endswith("menuentry 'local: the local disk (the next boot entry)' {\n    exit\n}\n")
    assert "set default=1\n" in text


def test_local_as_the_default_is_the_last_entry_in_both_menus():
    assert "DEFAULT local\n" in pxelinux_config(ENTRIES, "local", 5)
    assert "set default=2\n" in grub_accepts(grub_config(ENTRIES, "local", 5, BASE))


def installed_root(tmp_path: Path) -> tuple[TftpRoot, list[Item]]:
    """bookworm and trixie installed for amd64 the way an import installs them, and the plan naming both."""
    root = TftpRoot(tmp_path / "tftpboot")
    for release in ("bookworm", "trixie"):
        files = {}
        for name in ("linux", "initrd.gz"):
            files[name] = tmp_path / f"{release}-{name}"
            files[name].write_bytes(f"{release} {name}".encode())
        hashes = {name: sha256_file(path) for name, path in files.items()}
        root.install(root.install_slot("amd64", release), version_id(hashes), files, hashes)
    source = Source("debian", "http://deb.example.org/debian/dists/", layout="debian-installer")
    items = plan([Selection(source, ("amd64",), ("bookworm", "trixie"), "bookworm")])
    return root, items


@pytest.mark.parametrize(("chosen", "default"), [("", "bookworm"), ("local", "local"), ("trixie", "trixie")])
def test_the_menus_boot_what_the_setting_names_by_default(tmp_path: Path, chosen: str, default: str):
    root, items = installed_root(tmp_path)
    [result] = [r for r in BootMenus(root, MenuSettings(default=chosen)).write(items, 0.0) if r.arch == "amd64"]
    assert (result.default, result.warnings, result.error) == (default, [], "")
    assert f"DEFAULT {default}\n" in (root.base_dir("amd64") / "pxelinux.cfg" / "default").read_text()


def test_a_default_the_menus_do_not_offer_is_said_and_the_current_release_stays_the_default(tmp_path: Path):
    root, items = installed_root(tmp_path)
    [result] = [r for r in BootMenus(root, MenuSettings(default="sid")).write(items, 0.0) if r.arch == "amd64"]
    assert result.default == "bookworm" and not result.error
    assert result.warnings == [
        "amd64 boot menus: PXEIMPORT_MENU_DEFAULT is 'sid', which they do not offer "
        "(they offer bookworm, trixie, local); the default stays bookworm"
    ]


def test_no_release_may_be_called_like_the_local_entry():
    source = Source("debian", "http://deb.example.org/debian/dists/", layout="debian-installer")
    with pytest.raises(InvalidName, match="release name 'local' is the label of the menus' local-disk entry"):
        plan([Selection(source, ("amd64",), (LOCAL_LABEL,), "bookworm")])


@pytest.mark.parametrize("value", ["Local", "bookworm installer", "-x", "a" * 90])
def test_a_malformed_menu_default_is_one_line_and_exit_2_before_anything_runs(value: str):
    env = {**os.environ, "PXEIMPORT_MENU_DEFAULT": value}
    result = subprocess.run(
        [sys.executable, "manage.py", "import_pxe_files", "--dry-run"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.count("\n") == 1
        and "PXEIMPORT_MENU_DEFAULT must be 'local' or a boot menu label" in result.stderr
    )
