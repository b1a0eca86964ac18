"""What a Debian-style archive's signed Release file says: the hashes of its files, and its dates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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


@dataclass(frozen=True)
class ReleaseDates:
    """The Release's `Date` (when it was made) and `Valid-Until` (when it goes stale), both in UTC.

    Either is None when the field is absent (Debian's stable Release has no Valid-Until; its
    security and updates suites do).
    """

    date: datetime | None
    valid_until: datetime | None


def parse_release_dates(text: str, *, name: str = "Release") -> ReleaseDates:
    """`Date` and `Valid-Until`, as apt writes them (RFC 2822, "Sat, 10 Jun 2023 08:49:23 UTC").

    ReleaseFormatError naming the field and value when one is not such a date. A date without a
    zone ("-0000") is taken as UTC, as Debian's archive software writes UTC only.
    """
    fields: dict[str, datetime] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon or line[:1] in (" ", "\t") or key not in ("Date", "Valid-Until"):
            continue
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError) as exc:
            raise ReleaseFormatError(f"{name}: {key} {value.strip()[:60]!r} is not an RFC 2822 date") from exc
        fields[key] = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return ReleaseDates(fields.get("Date"), fields.get("Valid-Until"))
