"""The HTTP root's copies of a version's files (Anaconda's installer image, linuxrc's installation system): what
a new version keeps there once it passed every check (to_keep), and a served version's copies checked like its
own files: a copy that is missing, or is no longer the served file and differs from it (by size; with --verify,
by SHA-256), is made again from the served file once that file is known good, so what the options name is what
the version's manifest says. The usual case costs nothing: the copy is a hard link of the served file.
No Django here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from pxeimport.layouts import Container, Wanted
from pxeimport.lib import sha256_file
from pxeimport.tftproot import HttpRoot, InstalledFile


def check_copies(
    http_root: HttpRoot,
    wanted: Wanted,
    installed: Mapping[str, InstalledFile],
    damaged: Collection[str],
    *,
    deep: bool,
    dry: bool,
) -> list[str]:
    """One sentence per HTTP root copy of `installed` that `wanted` keeps and that is missing or not the served
    file's bytes; each is made again from the served file (unless `dry`, or that file is `damaged` itself: the
    version is then rebuilt, and its files kept again)."""
    said = []
    for container in wanted.all_containers:
        for name, relative in container.publish_members.items():
            served = installed.get(name)
            if served is None or _holds(http_root, relative, served, deep=deep):
                continue
            if not dry and name not in damaged:
                http_root.publish(relative, served.path, replace=True)
            said.append(
                f"{http_root.path_for(relative)}: missing or not {name}'s bytes; kept again from the served file"
            )
    return said


def to_keep(
    http_root: HttpRoot | None, container: Container, path: Path, members: Mapping[str, Path]
) -> list[Callable[[], Path]]:
    """How to keep in the HTTP root what `container` (verified at `path`, its members extracted to `members`) keeps
    there: calls that each keep one file and return its path, made only once the version passed every check (a
    member replaces a copy that is not it: found damaged before). None without an HTTP root."""
    if http_root is None:
        return []
    keep: list[Callable[[], Path]] = []
    # A file container is fetched only when its copy is missing or damaged (kept): it replaces that copy.
    whole = functools.partial(http_root.publish, container.publish_as, path, replace=container.kind == "file")
    keep += [whole] if container.publish_as else []
    keep += [
        functools.partial(http_root.publish, at, members[n], replace=True)
        for n, at in container.publish_members.items()
    ]
    return keep


def kept(http_root: HttpRoot, container: Container, path: str, deep: bool) -> bool:
    """Whether the HTTP root holds `path` (one of `container`'s kept paths) whole: there, and for a file container
    (kept as fetched) of the size and, when `deep`, the SHA-256 its index gave."""
    if not http_root.has(path):
        return False
    if container.kind != "file" or path != container.publish_as:
        return True
    copy = http_root.path_for(path)
    try:
        if container.remote.size is not None and copy.stat().st_size != container.remote.size:
            return False
        return not deep or sha256_file(copy) == container.remote.sha256
    except OSError:
        return False


def _holds(http_root: HttpRoot, relative: str, served: InstalledFile, *, deep: bool) -> bool:
    if not http_root.has(relative):
        return False
    copy = http_root.path_for(relative)
    try:
        if os.path.samefile(copy, served.path):
            return True  # one file: the served file's own check covers it
        if copy.stat().st_size != served.path.stat().st_size:
            return False
        return not deep or sha256_file(copy) == served.sha256
    except OSError:
        return False
