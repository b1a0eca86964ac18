"""Parsing of SHA256SUMS-style index files, strictly: a bad index is an error, never a guess."""

from __future__ import annotations

import posixpath
import re

_LINE_RE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


class ChecksumIndexError(ValueError):
    """The index is malformed or names a path that could escape its directory."""


def parse_sha256sums(text: str, *, source: str = "SHA256SUMS") -> dict[str, str]:
    """Map each listed relative path (without a leading "./") to its lower-case SHA-256.

    Refused, naming `source` and the line: malformed lines, absolute paths, ".." components,
    backslashes, and one path listed twice with different hashes. Blank lines are ignored.
    """
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise ChecksumIndexError(f"{source}: line {number} is not '<sha256>  <path>': {line[:80]!r}")
        digest, path = match.group(1).lower(), match.group(2)
        path = _clean_path(path, source=source, number=number)
        if entries.get(path, digest) != digest:
            raise ChecksumIndexError(f"{source}: line {number} lists {path!r} again with another hash")
        entries[path] = digest
    return entries


def _clean_path(path: str, *, source: str, number: int) -> str:
    if "\\" in path or "\x00" in path or path.startswith("/"):
        raise ChecksumIndexError(f"{source}: line {number} has an unsafe path {path!r}")
    if path.startswith("./"):
        path = path[2:]
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts):
        raise ChecksumIndexError(f"{source}: line {number} has an unsafe path {path!r}")
    return posixpath.normpath(path)
