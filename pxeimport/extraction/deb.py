"""Take one wanted file out of a .deb's data.tar (python-debian), refusing anything hostile.

Used for pre-boot loaders shipped in packages (shim-signed, grub-efi-*-signed, pxelinux): the .deb was
checked against its signed Packages entry before it gets here.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from debian.arfile import ArError
from debian.debfile import DebFile

from pxeimport.extraction.tarball import Extracted, TarballError, extract_from, normal_member

# No loader comes near this; a member past it is refused rather than written.
MAX_MEMBER_BYTES = 64 << 20


class DebError(Exception):
    """A .deb is unreadable, lacks the wanted member, or holds a member that is not a plain, safe file."""


def extract_member(deb_path: Path, members: Sequence[str], dest: Path, *, label: str = "") -> tuple[str, Extracted]:
    """Write the first of `members` the .deb's data.tar holds to `dest` (created, 0644).

    Returns the member used and the written file's size and SHA-256 (computed while writing).
    DebError when the .deb is unreadable, holds none of `members`, or the member is a link,
    device or directory, or any member path is absolute or climbs out with "..".
    `label` names the .deb in errors (its URL); data.tar.{gz,xz,bz2} are read by python,
    data.tar.zst (Ubuntu's default since 21.10) by python-debian through `unzstd` (package zstd).
    """
    label = label or deb_path.name
    try:
        data = DebFile(deb_path).data
        archive = data.tgz()
        # Every path is checked before a byte is written: a hostile member anywhere refuses the .deb.
        names = {normal_member(name, label) for name in archive.getnames()}
        chosen = next((m for m in members if normal_member(m, label) in names), None)
        if chosen is None:
            raise DebError(f"{label} holds none of {', '.join(members)}")
        extracted = extract_from(
            archive, {dest.name: chosen}, dest.parent, max_bytes=MAX_MEMBER_BYTES, label=f"{label} data.tar"
        )
    except TarballError as exc:
        raise DebError(str(exc)) from exc
    except (ArError, tarfile.TarError, lzma.LZMAError, zlib.error, EOFError) as exc:
        raise DebError(f"{label}: not a readable .deb ({exc})") from exc
    return chosen, extracted[dest.name]
