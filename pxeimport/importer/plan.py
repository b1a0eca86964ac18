"""The plan of a run: the selections turned into items, each checked before any network or disk work."""

from __future__ import annotations

from collections.abc import Iterable

from pxeimport.items import Item, ItemKind, Selection
from pxeimport.lib import check_name
from pxeimport.menus import check_kernel_opts, check_label
from pxeimport.tftproot import check_release


def plan(selections: Iterable[Selection]) -> list[Item]:
    """Items in a stable order: per source and arch, the loader first, then each release.

    Names and kernel options are validated here, so a bad one fails before any network or disk work
    (InvalidName, BadKernelOptions). Two sources may not fill the same place in the TFTP root: the
    first selection naming an (arch, release) wins, and `contested` says so.
    """
    items: list[Item] = []
    seen: set[tuple[str, str, str]] = set()
    for sel in selections:
        for arch in sel.arches:
            check_name("architecture", arch)
            loader = Item(sel.source, arch, check_name("release", sel.current_release), ItemKind.LOADER)
            wanted = [loader] if sel.source.feeds_loaders else []
            wanted += [
                Item(
                    sel.source,
                    arch,
                    check_label(check_release(r)),
                    ItemKind.INSTALL,
                    check_kernel_opts(sel.kernel_opts.get(r, "")),
                )
                for r in sel.releases
                if sel.pairs is None or (arch, r) in sel.pairs
            ]
            for item in wanted:
                key = (item.arch, item.kind.value, item.release if item.kind == ItemKind.INSTALL else "")
                if key not in seen:
                    seen.add(key)
                    items.append(item)
    return items


def contested(selections: Iterable[Selection]) -> list[str]:
    """One line per place in the TFTP root several selections claim: an (arch, release), or an arch's
    pre-boot loaders (every source selecting the arch brings its own). The first selection (sources are
    read by name) feeds it; the others are left out of the plan, so each run says so until it is resolved.
    """
    claims: dict[tuple[str, str], list[str]] = {}
    for sel in selections:
        for arch in sel.arches:
            if sel.source.feeds_loaders:
                claims.setdefault((arch, ""), []).append(sel.source.name)
            for release in sel.releases:
                claims.setdefault((arch, release), []).append(sel.source.name)
    lines = []
    for (arch, release), names in claims.items():
        if len(names) < 2:
            continue
        place = f"{arch}/{release} is" if release else f"{arch}'s pre-boot loaders are"
        everyone = ", ".join(repr(n) for n in names)
        left_out = ", ".join(repr(n) for n in names[1:]) + (" is" if len(names) == 2 else " are")
        lines.append(
            f"WARNING: {place} claimed by boot sources {everyone}: {names[0]!r} feeds it, {left_out} left out; "
            "disable or deselect it on all but one"
        )
    return lines
