"""Chosen regular files out of a verified container, refusing anything hostile (links, devices, paths that
climb out): a tarball (streamed), an ISO 9660 image (pycdlib: no loop mount, no root), a .deb's data.tar
(python-debian).

Imports: lib, pycdlib, python-debian. Django: never.
"""

from __future__ import annotations

from pxeimport.extraction.deb import DebError, extract_member
from pxeimport.extraction.iso import IsoImageError, Member, list_members
from pxeimport.extraction.iso import extract as extract_iso
from pxeimport.extraction.tarball import Extracted, TarballError, extract_from, normal_member
from pxeimport.extraction.tarball import extract as extract_tar

__all__ = [
    "DebError",
    "Extracted",
    "IsoImageError",
    "Member",
    "TarballError",
    "extract_from",
    "extract_iso",
    "extract_member",
    "extract_tar",
    "list_members",
    "normal_member",
]
