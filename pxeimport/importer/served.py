"""What a TFTP root serves for an item, read from the disk: the version its pointer names, whether it is
retired (off the menus, waiting out the grace period) and when it goes, or that it is gone. The status page
shows this beside what the database remembers, so a deleted release is never shown as live. No Django here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pxeimport.importer.retirement import marked_at
from pxeimport.items import ItemKind
from pxeimport.lib import InvalidName
from pxeimport.tftproot import TftpRoot


@dataclass(frozen=True)
class Served:
    """`version`: "install-<v>" or "_loader-<v>" as served, "" when nothing is. `note`: retired or gone, else ""."""

    version: str
    note: str = ""


def served(root: TftpRoot, arch: str, release: str, kind: str) -> Served:
    """What `root` serves for the item (arch, release, kind), judged from its links and retirement marks."""
    try:
        base = root.base_dir(arch)
        if kind == ItemKind.LOADER:
            version = root.serving(root.loader_slot(arch))
            marked, what = marked_at(base.parent), "the arch"
        else:
            version = root.installed_releases(arch).get(release, "")
            marked, what = marked_at(base / release), "the release"
            if marked is None:
                marked, what = marked_at(base.parent), "the arch"
    except (InvalidName, OSError):
        return Served("", "not a name pxeimport serves")
    if not version:
        return Served("", "not served: nothing on disk (deleted, or never installed)")
    if marked is not None:
        goes = datetime.fromtimestamp(marked + root.grace_seconds).astimezone()
        since = datetime.fromtimestamp(marked).astimezone()
        note = f"{what} is retired since {since:%Y-%m-%d %H:%M} (off the menus); its files go after {goes:%H:%M}"
        return Served(version, note)
    return Served(version)


def loaderless(root: TftpRoot) -> list[str]:
    """One warning per arch (not retired) whose menus offer releases while it serves no pre-boot loader:
    a node of that arch has nothing to start them with (a source whose layout installs none, anaconda-iso,
    with no source that feeds the arch's loaders)."""
    warnings = []
    for arch in root.arches(retired=False):
        # A release retired and in its grace period is off the menus: not offered (found by a walk).
        offered = (r for r in root.installed_releases(arch) if marked_at(root.base_dir(arch) / r) is None)
        releases = sorted(offered)
        if releases and not root.served_loaders(arch):
            warnings.append(
                f"{arch} serves {', '.join(releases)} but no pre-boot loader, so its nodes cannot boot them: "
                f"select a boot source that feeds {arch}'s loaders (debian-installer or ubuntu-iso)"
            )
    return warnings
