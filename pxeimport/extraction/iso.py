"""Read chosen regular files out of an ISO 9660 image with pycdlib: no loop mount, no root.

Names are looked up in the richest namespace the image has, the one its maker wrote the real names
in: Rock Ridge (POSIX names, modes, symlinks: Ubuntu's live-server ISO has it), else Joliet (UCS-2
names), else plain ISO 9660 (names compared without the ";1" version and a trailing dot, ignoring
case; a long name shortened to 8.3 by the maker is not found). A member is streamed to disk in
BLOCK_SIZE blocks (pycdlib's `get_file_from_iso_fp` copies `blocksize` bytes at a time; memory does
not grow with the member's size), hashed while written, created O_EXCL 0644 and fsynced.

The image is meant to be verified (its SHA-256 against a signed index) before it is read here; the
checks here still refuse what a damaged or hostile image could hold: a symlink, device, FIFO or
directory where a file is wanted, a member larger than the caller's limit, and an image cut short.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import pycdlib
from pycdlib.dr import DirectoryRecord
from pycdlib.pycdlibexception import PyCdlibException

from pxeimport.lib import BLOCK_SIZE, Written, new_file

# What `extract` returns for each member: its path in `dest`, size, SHA-256.
Extracted = Written
Namespace = Literal["rr", "joliet", "iso"]
Kind = Literal["file", "directory", "symlink", "other"]
_SPOKEN = {"file": "file", "directory": "directory", "symlink": "symlink", "other": "device, FIFO or socket"}


class IsoImageError(ValueError):
    """The image is unreadable or damaged, or a wanted member is missing or not a regular file."""


@dataclass(frozen=True)
class Member:
    """One entry of a directory in the image: its name (in the namespace read), kind and data size."""

    name: str
    kind: Kind
    size: int


class _Image:
    """An open image and the namespace its names are read in."""

    def __init__(self, path: Path, iso: pycdlib.PyCdlib) -> None:
        self.path = path
        self.iso = iso
        self.namespace: Namespace = "rr" if iso.has_rock_ridge() else "joliet" if iso.has_joliet() else "iso"

    def error(self, what: str) -> IsoImageError:
        return IsoImageError(f"{self.path}: {what}")

    def walk(self, directory: str) -> tuple[str, dict[str, DirectoryRecord]]:
        """(the path pycdlib knows `directory` by, {lookup key: record} of its entries).

        `directory` is "casper", "/casper/" or "" for the root; IsoImageError if there is none.
        """
        parts = [p for p in directory.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.error(f"directory {directory!r} climbs out with '..'")
        path, listing = "", self._listing("/")
        for depth, part in enumerate(parts):
            record = listing.get(self._key(part))
            if record is None or not record.is_dir():
                raise self.error(f"has no directory {'/'.join(parts[: depth + 1])}")
            path = self._child_path(path, part, record)
            listing = self._listing(path)
        return path, listing

    def _listing(self, path: str) -> dict[str, DirectoryRecord]:
        listing: dict[str, DirectoryRecord] = {}
        for record in self.iso.list_children(**{f"{self.namespace}_path": path or "/"}):
            if isinstance(record, DirectoryRecord) and not (record.is_dot() or record.is_dotdot()):
                listing[self._key(self.name(record))] = record
        return listing

    def _child_path(self, parent: str, name: str, record: DirectoryRecord) -> str:
        """The path pycdlib looks `record` up by: the name as given, but plain ISO 9660's own identifier."""
        if self.namespace == "iso":
            name = record.file_identifier().decode("ascii", "replace")
        return f"{parent}/{name}"

    def name(self, record: DirectoryRecord) -> str:
        if self.namespace == "rr" and record.rock_ridge is not None:
            return record.rock_ridge.name().decode("utf-8", "replace")
        if self.namespace == "joliet":
            return record.file_identifier().decode("utf-16_be", "replace")
        # "VMLINUZ.;1" -> "VMLINUZ": the version and the empty extension's dot are not part of the name.
        return record.file_identifier().decode("ascii", "replace").split(";")[0].rstrip(".")

    def _key(self, name: str) -> str:
        return name.lower() if self.namespace == "iso" else name

    def lookup(self, member: str) -> tuple[str, DirectoryRecord]:
        """(the path to ask pycdlib for, the record) of `member` ("casper/vmlinuz")."""
        directory, _, name = member.strip("/").rpartition("/")
        path, listing = self.walk(directory)
        record = listing.get(self._key(name))
        if record is None:
            raise self.error(f"has no {member}")
        return self._child_path(path, name, record), record

    def kind(self, record: DirectoryRecord) -> Kind:
        if record.is_dir():
            return "directory"
        if record.is_symlink():
            return "symlink"
        if self.namespace == "rr" and record.rock_ridge is not None:
            with contextlib.suppress(PyCdlibException):
                if not stat.S_ISREG(record.rock_ridge.get_file_mode()):
                    return "other"
        return "file" if record.is_file() else "other"


@contextlib.contextmanager
def _open(iso_path: Path) -> Iterator[_Image]:
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(iso_path))
    except PyCdlibException as exc:
        raise IsoImageError(f"{iso_path}: not a readable ISO 9660 image ({exc})") from exc
    try:
        image = _Image(iso_path, iso)
        _check_length(image)
        yield image
    except PyCdlibException as exc:
        raise IsoImageError(f"{iso_path}: damaged ISO 9660 image ({exc})") from exc
    finally:
        iso.close()


def _check_length(image: _Image) -> None:
    """IsoImageError when the file is cut off: not a whole number of logical blocks, or shorter than
    the volume its primary descriptor declares (ECMA-119 8.4.8 "Volume Space Size", in blocks).

    Checked here because pycdlib silently shortens a member whose data runs past the end of the
    file. A cut exactly at a block boundary of an image whose descriptor also lies is not caught
    here: the SHA-256 check against the signed index, before extraction, is what catches any damage.
    """
    pvd: Any = image.iso.pvd
    block = int(pvd.logical_block_size())
    declared = int(pvd.space_size) * block
    actual = image.path.stat().st_size
    if actual % block:
        raise image.error(f"truncated: {actual} bytes is not a whole number of {block}-byte blocks")
    if actual < declared:
        raise image.error(f"truncated: its volume descriptor says {declared} bytes, the file has {actual}")


def list_members(iso_path: Path, directory: str) -> dict[str, Member]:
    """{name: Member} of the entries in `directory` of the image ("casper"; "" for the root).

    IsoImageError when the image cannot be read or has no such directory.
    """
    with _open(iso_path) as image:
        records = sorted(((image.name(r), r) for r in image.walk(directory)[1].values()), key=lambda pair: pair[0])
        return {name: Member(name, image.kind(record), record.get_data_length()) for name, record in records}


def extract(iso_path: Path, wanted: Mapping[str, str], dest: Path, *, max_bytes: int) -> dict[str, Extracted]:
    """Extract `wanted` ({name in dest: member path, e.g. "casper/vmlinuz"}) into `dest`/<name>.

    Each file is new (O_EXCL; an existing one is an error), 0644, fsynced; on any error the file
    being written is removed (those done before stay, in `dest`, for the caller's staging clean-up).
    IsoImageError, naming the image and the member, when the image is unreadable, damaged or cut
    short, or a member is missing, not a regular file (a symlink, a directory, a device...),
    larger than `max_bytes`, or shorter on disk than its directory record says. OSError for the disk.
    """
    found: dict[str, Extracted] = {}
    with _open(iso_path) as image:
        for name, member in wanted.items():
            lookup, record = image.lookup(member)
            kind = image.kind(record)
            if kind != "file":
                raise image.error(f"{member} is not a regular file but a {_SPOKEN[kind]}")
            size = record.get_data_length()
            if size > max_bytes:
                raise image.error(f"{member} is {size} bytes, larger than the limit of {max_bytes}")
            target = dest / name
            with new_file(target) as out:
                # pycdlib only calls write() on it.
                sink = cast(BinaryIO, out)
                image.iso.get_file_from_iso_fp(sink, blocksize=BLOCK_SIZE, **{f"{image.namespace}_path": lookup})
                if out.size != size:  # pycdlib stops quietly at a short read (the image shrank meanwhile)
                    raise image.error(f"{member} is cut short: {out.size} of its {size} bytes are in the image")
            found[name] = Extracted(target, out.size, out.sha256)
    return found
