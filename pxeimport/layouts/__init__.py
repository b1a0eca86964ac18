"""Upstream archive layouts, one module each, and the registry that names them.

A new layout is one module here with a `Layout` subclass, added to `_LAYOUTS` below; the admin
offers it as a BootSource choice (a migration records the new choice) and --layout accepts it.
"""

from __future__ import annotations

from pxeimport.items.words import DEFAULT_LAYOUT
from pxeimport.layouts.base import Container, Layout, LayoutError, RemoteFile, Wanted
from pxeimport.layouts.debian_installer import DebianInstaller
from pxeimport.layouts.region import Region
from pxeimport.layouts.ubuntu_iso import UbuntuIso
from pxeimport.layouts.ubuntu_netboot import UbuntuNetboot

__all__ = ["Container", "Layout", "LayoutError", "RemoteFile", "Wanted", "get_layout", "layout_choices", "layout_names"]

_LAYOUTS: dict[str, type[Layout]] = {
    layout.name: layout for layout in (DebianInstaller, UbuntuNetboot, UbuntuIso, Region)
}
assert DEFAULT_LAYOUT in _LAYOUTS


def get_layout(name: str) -> type[Layout]:
    """The layout class called `name`; LayoutError naming the known ones if there is none."""
    try:
        return _LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown archive layout {name!r} (known: {', '.join(_LAYOUTS)})") from None


def layout_names() -> list[str]:
    return list(_LAYOUTS)


def layout_choices() -> list[tuple[str, str]]:
    """(name, label) pairs for a Django field's choices."""
    return [(name, layout.label) for name, layout in _LAYOUTS.items()]
