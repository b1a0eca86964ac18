"""Taking members out of a verified container, with the extractor its kind names.

A layout says "download this verified file and take these members out of it" (archive.layout's
Container); the importer downloads and checks it, then calls `extract` here, which picks the
extractor by the container's kind: "tar" (pxeimport.extraction.tarball: streaming, hostile members refused),
"iso" (pxeimport.extraction.iso: ISO 9660 with pycdlib, no loop mount), "deb" (the .deb's data.tar, via
python-debian: extraction.deb), "file" (nothing: a file only kept for nodes).
No Django here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path

from pxeimport.extraction import (
    DebError,
    Extracted,
    IsoImageError,
    extract_iso,
    extract_member,
    extract_tar,
    list_members,
)
from pxeimport.layouts import Container, LayoutError

# (container file, {name: member paths}, optional names, dest dir, max bytes, label) -> {name: Extracted}
Extractor = Callable[[Path, Mapping[str, tuple[str, ...]], frozenset[str], Path, int, str], dict[str, Extracted]]


def _tar(
    path: Path, members: Mapping[str, tuple[str, ...]], optional: frozenset[str], dest: Path, max_bytes: int, label: str
) -> dict[str, Extracted]:
    """A tarball is read once, front to back: one path per member, none optional."""
    if optional or any(len(paths) != 1 for paths in members.values()):
        raise LayoutError(f"{label}: a tarball's members must each have one path and none may be optional")
    return extract_tar(path, {name: paths[0] for name, paths in members.items()}, dest, max_bytes=max_bytes)


def _iso(
    path: Path, members: Mapping[str, tuple[str, ...]], optional: frozenset[str], dest: Path, max_bytes: int, label: str
) -> dict[str, Extracted]:
    """The first path of each member the image holds as a file; an optional member may be absent."""
    listings: dict[str, set[str]] = {}

    def present(member: str) -> bool:
        directory, _, name = member.strip("/").rpartition("/")
        if directory not in listings:
            try:
                listings[directory] = set(list_members(path, directory))
            except IsoImageError:
                listings[directory] = set()  # no such directory: the member is absent
        return name in listings[directory]

    chosen: dict[str, str] = {}
    for name, paths in members.items():
        found = next((p for p in paths if present(p)), None)
        if found is not None:
            chosen[name] = found
        elif name not in optional:
            raise IsoImageError(f"{label}: has none of {', '.join(paths)}")
    return extract_iso(path, chosen, dest, max_bytes=max_bytes)


def _deb(
    path: Path, members: Mapping[str, tuple[str, ...]], optional: frozenset[str], dest: Path, max_bytes: int, label: str
) -> dict[str, Extracted]:
    """Each member out of the .deb's data.tar (its own checks and size limit); optional ones may be absent."""
    found: dict[str, Extracted] = {}
    for name, paths in members.items():
        try:
            found[name] = extract_member(path, paths, dest / name, label=label)[1]
        except DebError:
            if name not in optional or (dest / name).exists():
                raise
            continue
        if found[name].size > max_bytes:
            raise DebError(f"{label}: {name} is {found[name].size} bytes, over the limit of {max_bytes}")
    return found


def _file(
    path: Path, members: Mapping[str, tuple[str, ...]], optional: frozenset[str], dest: Path, max_bytes: int, label: str
) -> dict[str, Extracted]:
    """Nothing to take out: the verified file is only kept in the HTTP root (Container checks it has no members)."""
    return {}


EXTRACTORS: dict[str, Extractor] = {"tar": _tar, "iso": _iso, "deb": _deb, "file": _file}


def extract(container: Container, path: Path, dest: Path, *, max_bytes: int) -> dict[str, Extracted]:
    """The members of `container` (downloaded and verified at `path`) written into `dest`/<name>.

    Returns {name: Extracted} for every member found (an optional one may be missing). Errors name
    the container's URL: TarballError, IsoImageError, DebError (the extraction package's) for a damaged or
    hostile container or a missing member; OSError for the disk.
    """
    label = posixpath.basename(container.remote.url) or container.remote.url
    return EXTRACTORS[container.kind](path, container.members, container.optional, dest, max_bytes, label)
