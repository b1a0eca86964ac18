"""Retiring what the saved selection no longer names: off the menus now, off the disk after the grace period.

Only a run from the saved selection may retire (the command decides: no --archive, --arch or
--release); a run restricted on the command line names only part of what is wanted, and must not
take the rest away. What is retired is what the plan does not name at all: a release taken out of
the selection, an arch taken out, a source disabled. A release that is planned but failed (it
vanished upstream, its mirror is down) is still planned, so it is kept and served.

A change takes away only what it asked for: while an arch stays selected but none of its selected
releases is served (the first import of a new release failed, a typo upstream never offered), the
releases it served before stay on the menus and on disk, unmarked ("held"); they are retired by the
first run after which a selected release of the arch is served. An arch taken out of the selection
goes at once, loaders and all: that was asked.

The first retiring run that finds a release (or arch) unplanned writes `.retired` in its directory
(the time, Unix seconds) and the menus stop naming it (pxeimport.menus.writer, `only_planned`); an
arch's own menus are removed. Files stay for the grace period, so a node mid-boot finishes; the
first retiring run after it deletes the directory. Selected again before then, the mark goes.
No Django here.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pxeimport.importer.text import change_text
from pxeimport.items import Item, ItemKind
from pxeimport.lib import InvalidName, check_name, lstat_or_none, write_atomic
from pxeimport.menus import GRUB_MENU, HEADER, MENUS
from pxeimport.tftproot import RESERVED, RETIRED_MARK, TftpRoot

MARK = RETIRED_MARK


@dataclass
class Retired:
    """What retiring said (one line per change, text.change_text) and the releases it held on the menus."""

    said: list[str] = field(default_factory=list)
    held: set[tuple[str, str]] = field(default_factory=set)


def retire_unselected(
    root: TftpRoot,
    items: Sequence[Item],
    now: float,
    *,
    dry: bool = False,
    gone: list[Path] | None = None,
    pending: Iterable[tuple[str, str]] = (),
) -> Retired:
    """Mark, un-menu and after the grace period delete every arch and release `items` do not name, except
    the releases of an arch none of whose planned releases is served (they are held: kept and unmarked).

    Only what pxeimport made is touched: arch dirs holding `base/`, release dirs holding an `install` link
    or `install-*` dirs. `dry`: change nothing, say what would change; `pending`: the (arch, release)
    installs a dry run plans, counted as served. `gone`: the directories deleted (or that would be) are
    appended to it.
    """
    arches = {i.arch for i in items}
    releases = {(i.arch, i.release) for i in items if i.kind == ItemKind.INSTALL}
    served = {(arch, r) for arch in arches for r in root.installed_releases(arch)} | set(pending)
    retired = Retired()
    said = retired.said
    for arch, arch_dir in _children(root.maas):
        base = arch_dir / "base"
        if not _is_dir(base):
            continue
        if arch not in arches:
            # Its retirement names the releases it takes off the menus, so the run's row says which went.
            offered = tuple(sorted(r for r, d in _children(base) if r not in RESERVED and _is_release_dir(d)))
            said += _retire(root, arch_dir, arch, now, menus_of=arch, dry=dry, gone=gone, releases=offered)
            continue
        said += _restore(arch_dir, arch, dry=dry)
        bootable = any((arch, r) in served for a, r in releases if a == arch)
        planned = sorted(r for a, r in releases if a == arch)
        for release, release_dir in _children(base):
            if release in RESERVED or not _is_release_dir(release_dir):
                continue
            if (arch, release) in releases:
                said += _restore(release_dir, f"{arch}/{release}", dry=dry)
            elif not bootable and (arch, release) in served:
                retired.held.add((arch, release))
                if not dry:
                    _unmark(release_dir)
                why = (
                    f"not in the saved selection, but none of {arch}'s selected releases "
                    f"({', '.join(planned) or 'none'}) is served yet; it goes once one is"
                )
                said.append(change_text("keep", f"{arch}/{release}", why, dry=dry))
            else:
                said += _retire(root, release_dir, f"{arch}/{release}", now, dry=dry, gone=gone)
    return retired


def _retire(
    root: TftpRoot,
    directory: Path,
    what: str,
    now: float,
    menus_of: str | None = None,
    *,
    dry: bool = False,
    gone: list[Path] | None = None,
    releases: tuple[str, ...] = (),
) -> list[str]:
    """Mark `directory` retired now, or delete it once marked for the grace period.

    `menus_of`: the arch whose own menus go at once (an arch taken out), with its loaders; `releases`:
    those it takes off the menus, named in the line that retires it.
    """
    marked = marked_at(directory)
    grace = root.grace_seconds
    # An arch's line names its releases, retired or removed: the row of the run that retired it may be lost
    # (a run killed after the mark), and the run that removes it must still say which releases went.
    named = f"{what} ({', '.join(releases)})" if releases else what
    if marked is not None and _on_menus(root, directory, menus_of):
        # Put back on the menus since it was marked (a run that retires nothing, a demo): nodes may boot it
        # now, so it leaves the menus again and its grace period starts anew.
        marked = None
    if marked is None:
        if not dry:
            write_atomic(directory / MARK, f"{int(now)}\n".encode())  # floored: never later than now
            if menus_of is not None:
                _remove_menus(root, menus_of)
        files = "its files (its pre-boot loaders too)" if menus_of is not None else "its files"
        why = f"not in the saved selection; off the boot menus now, {files} go in {grace:.0f} s"
        return [change_text("retire", named, why, dry=dry)]
    if now - marked < grace:
        return []
    if not dry:
        shutil.rmtree(directory)
    if gone is not None:
        gone.append(directory)
    return [change_text("remove", named, f"out of the saved selection for more than {grace:.0f} s", dry=dry)]


def _on_menus(root: TftpRoot, directory: Path, arch: str | None) -> bool:
    """Whether a menu pxeimport wrote names it: an arch's own menus exist, or its arch's menus name the release."""
    base = directory / "base" if arch is not None else directory.parent
    for menu in MENUS:
        st = lstat_or_none(base / menu)
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        text = (base / menu).read_text(errors="replace")
        if text.startswith(f"# {HEADER}") and (arch is not None or f"{directory.name}/install-" in text):
            return True
    return False


def _remove_menus(root: TftpRoot, arch: str) -> None:
    """An arch taken out: its menus (and its GRUB redirect) go now, if pxeimport wrote them."""
    base = root.base_dir(arch)
    paths = [base / menu for menu in MENUS]
    paths.append(root.path / "debian-installer" / arch / GRUB_MENU)
    for path in paths:
        st = lstat_or_none(path)
        if st is not None and stat.S_ISREG(st.st_mode) and path.read_text(errors="replace").startswith(f"# {HEADER}"):
            path.unlink()


def _children(directory: Path) -> list[tuple[str, Path]]:
    """(name, path) of the real directories below `directory` whose names pxeimport could have made."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        try:
            check_name("directory", entry.name)
        except InvalidName:
            continue
        if entry.is_dir(follow_symlinks=False):
            found.append((entry.name, Path(entry.path)))
    return found


def _is_dir(path: Path) -> bool:
    st = lstat_or_none(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _is_release_dir(path: Path) -> bool:
    return os.path.islink(path / "install") or any(p.name.startswith("install-") for p in path.iterdir())


def marked_at(directory: Path) -> float | None:
    """When `directory` was retired (Unix seconds, its `.retired`), None when it is not."""
    try:
        return float((directory / MARK).read_text().strip())
    except (OSError, ValueError):
        return None


def unmark_served(root: TftpRoot, served: Iterable[Item]) -> list[str]:
    """A narrowed run that served these items (installed, or found them current) takes their retirement
    marks away, the arch's too: the operator asked for them by name. One whose item failed leaves the mark,
    so the menus do not offer what a retiring run took off them (pxeimport.menus.writer). A line for each."""
    said = []
    for item in served:
        arch_dir = root.base_dir(item.arch).parent
        said += _restore(arch_dir, item.arch, dry=False)
        if item.kind == ItemKind.INSTALL:
            said += _restore(arch_dir / "base" / item.release, f"{item.arch}/{item.release}", dry=False)
    return said


def _restore(directory: Path, what: str, *, dry: bool) -> list[str]:
    """Take a retirement mark away (unless `dry`); a line saying so when there was one."""
    if marked_at(directory) is None:
        return []
    if not dry:
        _unmark(directory)
    return [change_text("restore", what, "selected again; on the boot menus again, nothing goes", dry=dry)]


def _unmark(directory: Path) -> None:
    """Selected again: the clock towards deletion stops."""
    (directory / MARK).unlink(missing_ok=True)
