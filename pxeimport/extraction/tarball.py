"""Extract chosen regular files from a tarball, streaming, refusing anything hostile.

The tarball is read once, front to back ("r|*": no seeking, no member index in memory beyond
the current one). Any member with an absolute path or a ".." component makes the whole tarball
suspect and is refused; a wanted name that is a link, a device or a directory is refused too.
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from pxeimport.lib import Written, copy_new

# Kept under its old name: what `extract` returns for each member.
Extracted = Written


class TarballError(ValueError):
    """The tarball is malformed, hostile, or lacks a wanted member."""


def normal_member(name: str, tarball: str) -> str:
    """`name` without "./" and empty parts; TarballError if it is absolute, odd, or climbs out."""
    if name.startswith("/") or "\\" in name or "\x00" in name:
        raise TarballError(f"{tarball}: member {name!r} has an absolute or unsafe path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TarballError(f"{tarball}: member {name!r} climbs out with '..'")
    return posixpath.join(*parts) if parts else ""


def extract(tarball: Path, wanted: Mapping[str, str], dest: Path, *, max_bytes: int) -> dict[str, Extracted]:
    """Extract the members `wanted` names ({name: member path}) into `dest`/<name> (0644).

    TarballError for a hostile member anywhere, a wanted member that is not a regular file,
    a member larger than `max_bytes`, or a wanted member that is missing.
    """
    try:
        with tarfile.open(tarball, mode="r|*") as archive:
            return extract_from(archive, wanted, dest, max_bytes=max_bytes, label=tarball.name)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        # A disk error (OSError) is not the tarball's fault: it propagates as it is.
        raise TarballError(f"{tarball.name}: not a readable tarball ({exc})") from exc


def extract_from(
    archive: tarfile.TarFile, wanted: Mapping[str, str], dest: Path, *, max_bytes: int, label: str
) -> dict[str, Extracted]:
    """`extract` from an open archive (a .deb's data.tar, say); `label` names it in errors.

    Members are read in archive order; tarfile, EOF and decompression errors propagate for the
    caller to name.
    """
    by_member = {normal_member(member, label): name for name, member in wanted.items()}
    found: dict[str, Extracted] = {}
    for info in archive:
        member = normal_member(info.name, label)
        if member not in by_member:
            continue
        name = by_member[member]
        if not info.isreg():
            raise TarballError(f"{label}: {info.name} is not a regular file (type {info.type!r})")
        if info.size > max_bytes:
            raise TarballError(f"{label}: {info.name} is larger than {max_bytes} bytes")
        if name in found:
            raise TarballError(f"{label}: {info.name} appears twice")
        source = archive.extractfile(info)
        assert source is not None
        found[name] = copy_new(source, dest / name)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise TarballError(f"{label} lacks {', '.join(wanted[n] for n in missing)}")
    return found
