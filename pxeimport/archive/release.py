"""The hashes a Debian-style archive's signed Release file lists for its files."""

from __future__ import annotations

import re
from dataclasses import dataclass

# " <sha256> <size> <path>" under the "SHA256:" field.
_ENTRY_RE = re.compile(r"^ ([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)$")


class ReleaseFormatError(ValueError):
    """The Release file has no SHA256 field, or a malformed entry in it."""


@dataclass(frozen=True)
class ReleaseEntry:
    sha256: str
    size: int


def parse_release(text: str, *, name: str = "Release") -> dict[str, ReleaseEntry]:
    """Map each path in the SHA256 field to its hash and size."""
    entries: dict[str, ReleaseEntry] = {}
    in_sha256 = False
    seen_field = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith(" "):
            in_sha256 = line.rstrip() == "SHA256:"
            seen_field = seen_field or in_sha256
            continue
        if not in_sha256:
            continue
        match = _ENTRY_RE.match(line)
        if match is None:
            raise ReleaseFormatError(f"{name}: line {number} is not ' <sha256> <size> <path>': {line[:80]!r}")
        entries[match.group(3)] = ReleaseEntry(match.group(1).lower(), int(match.group(2)))
    if not seen_field:
        raise ReleaseFormatError(f"{name}: no SHA256 field")
    return entries
