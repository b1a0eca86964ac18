"""The HTTP root's copies of a served version's files (Anaconda's installer image), checked like the version's
own: a copy that is missing, or is no longer the served file and differs from it (by size; with --verify, by
SHA-256), is made again from the served file once that file is known good, so what inst.stage2 names is what
the version's manifest says. The usual case costs nothing: the copy is a hard link of the served file.
No Django here.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

from pxeimport.layouts import Wanted
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
