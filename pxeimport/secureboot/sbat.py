"""SBAT: the generation numbers a UEFI image carries (`.sbat`) and the revocations shim applies (`.sbatlevel`).

Facts from shim's own sources (github.com/rhboot/shim): SBAT.md gives the `.sbat` section, CSV lines
`component_name,component_generation,vendor_name,vendor_package_name,vendor_version,vendor_url`, the first
being `sbat,1,...`. SbatLevel_Variable.txt gives the revocation payloads, `sbat,1,<YYYYMMDDCC>` then one
`component,generation` a line. sbat_var.S lays out shim's `.sbatlevel` section: a little-endian u32 format
version (0), then two u32 offsets, counted from the end of that version word, of two NUL-terminated
payloads: the *automatic* one (applied to every machine the shim boots with Secure Boot on) and the
*latest* one (applied only where the owner opted in with `mokutil --set-sbat-policy latest`).
Delivering_Sbat_Revocations.md: shim never lowers a machine's level. sbat.c `verify_single_entry`: an image
is refused when, for a component the level names, the image's generation is lower (a generation that is
not a number counts as 0).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass


class SbatError(ValueError):
    """An `.sbat` or `.sbatlevel` section that shim could not read either."""


@dataclass(frozen=True)
class SbatEntry:
    """One line of an `.sbat` section or a revocation payload: a component and its generation."""

    component: str
    generation: int
    line: str  # as written, for messages


@dataclass(frozen=True)
class SbatLevel:
    """A revocation payload: its date stamp (YYYYMMDDCC) and the minimum generation of each component."""

    date: str
    revocations: tuple[SbatEntry, ...]

    def __str__(self) -> str:
        listed = " ".join(f"{r.component},{r.generation}" for r in self.revocations)
        return f"sbat,1,{self.date}" + (f" {listed}" if listed else "")


@dataclass(frozen=True)
class ShimLevels:
    """What a shim's `.sbatlevel` holds: the level it applies by itself and the one a machine may opt into."""

    automatic: SbatLevel
    latest: SbatLevel


def _generation(field: str) -> int:
    return int(field) if field.strip().isdigit() else 0  # shim uses atoi: not a number counts as 0


def parse_sbat(data: bytes, *, name: str) -> tuple[SbatEntry, ...]:
    """The entries of an `.sbat` section (text up to its first NUL). SbatError when a line lacks a
    component or a generation, or there is no line at all. `name` is the file, for the message."""
    text = data.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    entries = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        fields = line.split(",")
        if len(fields) < 2 or not fields[0]:
            raise SbatError(f"{name}: .sbat line {line!r} has no component and generation")
        entries.append(SbatEntry(fields[0], _generation(fields[1]), line))
    if not entries:
        raise SbatError(f"{name}: its .sbat section is empty")
    return tuple(entries)


def parse_level(text: str, *, name: str) -> SbatLevel:
    """A revocation payload (`sbat,1,<date>` and `component,generation` lines). SbatError when malformed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[0].split(",") if lines else []
    if len(head) < 3 or head[0] != "sbat":
        raise SbatError(f"{name}: an SBAT level starts with 'sbat,1,<date>', not {lines[:1]}")
    revocations = []
    for line in lines[1:]:
        fields = line.split(",")
        if len(fields) < 2 or not fields[0]:
            raise SbatError(f"{name}: SBAT level line {line!r} has no component and generation")
        revocations.append(SbatEntry(fields[0], _generation(fields[1]), line))
    return SbatLevel(head[2], tuple(revocations))


def parse_sbatlevel(data: bytes, *, name: str) -> ShimLevels:
    """shim's `.sbatlevel` section (layout: sbat_var.S). SbatError for another format version or offsets
    that point outside the section."""
    if len(data) < 12:
        raise SbatError(f"{name}: its .sbatlevel section is {len(data)} bytes, too short for its header")
    version, automatic, latest = struct.unpack_from("<III", data)
    if version != 0:
        raise SbatError(f"{name}: .sbatlevel format version {version} is not the one known (0)")

    def payload(offset: int) -> str:
        start = 4 + offset
        end = data.find(b"\0", start)
        if start >= len(data) or end < 0:
            raise SbatError(f"{name}: a .sbatlevel payload offset ({offset}) points outside the section")
        return data[start:end].decode("utf-8", errors="replace")

    return ShimLevels(parse_level(payload(automatic), name=name), parse_level(payload(latest), name=name))


def revoked(image: Sequence[SbatEntry], level: SbatLevel) -> list[tuple[SbatEntry, SbatEntry]]:
    """(image entry, revocation) for each entry `level` revokes: same component, lower generation."""
    return [
        (entry, revocation)
        for revocation in level.revocations
        for entry in image
        if entry.component == revocation.component and entry.generation < revocation.generation
    ]
