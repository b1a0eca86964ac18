"""Upstream archive layouts, one module each (the plugins), and the registry that names them.

A layout knows one upstream's signed index chain and says, for an item, which files it wants (verified
hashes, URLs, containers to take members out of) and the options of its menu entries; the importer asks
`get_layout(name)` and never names a layout. base.py is the protocol and its words; packages.py takes
pre-boot loaders out of a signed package archive for the layouts that need them; releases.py is
distro-info's knowledge of which releases exist.

A new layout is one module here with a `Layout` subclass, added to `_LAYOUTS` below; the admin offers it
as a BootSource choice (a migration records the new choice) and --layout accepts it.

Imports: lib, items, fetching, trust, extraction, tftproot, menus, secureboot (MokManager's names),
publication (the region layout reads the region's index). Django: never.
"""

from __future__ import annotations

from typing import Any

from pxeimport.items import DEFAULT_LAYOUT
from pxeimport.layouts.anaconda_iso import AnacondaIso
from pxeimport.layouts.base import BootEntry, Container, Layout, LayoutError, NotOffered, RemoteFile, Wanted
from pxeimport.layouts.debian_installer import DebianInstaller
from pxeimport.layouts.names import arch_problem, release_problem
from pxeimport.layouts.opensuse_iso import OpensuseIso
from pxeimport.layouts.packages import PackageError
from pxeimport.layouts.region import NAME as REGION
from pxeimport.layouts.region import Region, index_given, signed_index
from pxeimport.layouts.releases import (
    DISTRIBUTIONS,
    ReleaseDataError,
    known_releases,
    newest_release,
    stable_release,
    supported_releases,
)
from pxeimport.layouts.ubuntu_iso import UbuntuIso
from pxeimport.layouts.ubuntu_netboot import UbuntuNetboot

__all__ = [
    "DISTRIBUTIONS",
    "REGION",
    "AnacondaIso",
    "BootEntry",
    "Container",
    "DebianInstaller",
    "Layout",
    "LayoutError",
    "NotOffered",
    "OpensuseIso",
    "PackageError",
    "Region",
    "ReleaseDataError",
    "RemoteFile",
    "UbuntuIso",
    "UbuntuNetboot",
    "Wanted",
    "arch_problem",
    "get_layout",
    "index_given",
    "known_releases",
    "layout_choices",
    "layout_names",
    "layout_trait",
    "newest_release",
    "release_problem",
    "signed_index",
    "stable_release",
    "supported_releases",
]

_LAYOUTS: dict[str, type[Layout]] = {
    layout.name: layout for layout in (DebianInstaller, UbuntuNetboot, UbuntuIso, AnacondaIso, OpensuseIso, Region)
}
assert DEFAULT_LAYOUT in _LAYOUTS


def get_layout(name: str) -> type[Layout]:
    """The layout class called `name`; LayoutError naming the known ones if there is none."""
    try:
        return _LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown archive layout {name!r} (known: {', '.join(_LAYOUTS)})") from None


def layout_trait(name: str, trait: str, default: Any) -> Any:
    """The class attribute `trait` of layout `name` (has_loaders, own_keyring, reads_options, ...), or `default`
    for a layout that does not exist (said where the name is checked: the usage check, the admin's form)."""
    try:
        return getattr(get_layout(name), trait)
    except LayoutError:
        return default


def layout_names() -> list[str]:
    return list(_LAYOUTS)


def layout_choices() -> list[tuple[str, str]]:
    """(name, label) pairs for a Django field's choices."""
    return [(name, layout.label) for name, layout in _LAYOUTS.items()]
