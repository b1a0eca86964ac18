"""Helpers to read a TFTP root the way a TFTP server would: by stable path."""

from __future__ import annotations

import os
from pathlib import Path

from pxeimport.menus import version_paths


def base(tftp_root: Path, arch: str) -> Path:
    return tftp_root / "maas" / arch / "base"


def install_dir(tftp_root: Path, arch: str, release: str) -> Path:
    return base(tftp_root, arch) / release / "install"


def offered_pairs(tftp_root: Path) -> set[tuple[str, str]]:
    """(arch, release) of every entry the root's own pxelinux menus offer (as a node would see them)."""
    pairs = set()
    for menu in tftp_root.glob("maas/*/base/pxelinux.cfg/default"):
        arch = menu.parents[2].name
        pairs |= {(arch, path.split("/")[0]) for path in version_paths(menu.read_text())}
    return pairs


def read(path: Path) -> bytes:
    return path.read_bytes()


def snapshot(tftp_root: Path) -> dict[str, tuple[int, int, str]]:
    """(inode, mtime_ns, link target or "") of every served entry below the root, for "left untouched".

    The lock file (rewritten by every run) and the staging dir (never served) are left out.
    """
    entries = {}
    for dirpath, dirnames, filenames in os.walk(tftp_root):
        dirnames[:] = [d for d in dirnames if d != ".staging"]
        for name in dirnames + [f for f in filenames if f != ".lock"]:
            path = Path(dirpath) / name
            st = path.lstat()
            target = os.readlink(path) if path.is_symlink() else ""
            entries[str(path.relative_to(tftp_root))] = (st.st_ino, st.st_mtime_ns, target)
    return entries
