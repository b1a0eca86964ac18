"""Parsing of SHA256SUMS-style index files, strictly: a bad index is an error, never a guess.

A line is read exactly as GNU coreutils' `sha256sum -c` reads it (src/digest.c, `split_3` and
`bsd_split_3`, coreutils 9), and nothing looser:

- lines end at "\\n"; one "\\r" before it is dropped (CRLF); empty lines and lines starting with
  "#" are skipped; a line of only blanks is malformed;
- blanks (space, tab) may come before the hash; a "\\" there means the name is escaped ("\\\\n",
  "\\\\r", "\\\\\\\\" stand for newline, carriage return, backslash; any other escape is malformed);
- untagged: 64 hex digits, one blank (space or tab), then " " (text) or "*" (binary) and the
  name; so "<hash>  name", "<hash> *name", "<hash>\\t*name". Every character after the marker is
  the name's, blanks included;
- "reversed" (BSD `sha256 -r`): one blank and the name ("<hash> name", "<hash>\\tname"), allowed
  only when the file's first untagged line has that form too; then " name" keeps its blank.
  coreutils forbids mixing the forms, so a renamed " file" cannot pose as "file";
- tagged (BSD): "SHA256 (name) = <hash>", the name ending at the last ")".

coreutils only warns about a malformed line (unless --strict); here it is an error, naming the
line. On top, paths must stay inside their directory (see `_clean_path`).
"""

from __future__ import annotations

import posixpath
import re

HEX_DIGITS = 64
_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
_BLANKS = " \t"  # coreutils' ISWHITE
_ESCAPES = {"n": "\n", "r": "\r", "\\": "\\"}
_TAG = "SHA256"


class ChecksumIndexError(ValueError):
    """The index is malformed or names a path that could escape its directory."""


class _Malformed(Exception):
    pass


def parse_sha256sums(text: str, *, source: str = "SHA256SUMS") -> dict[str, str]:
    """Map each listed relative path (without a leading "./") to its lower-case SHA-256.

    Refused, naming `source` and the line: lines `sha256sum -c --strict` would call improperly
    formatted (see the module docstring), absolute paths, ".." components, backslashes, and one
    path listed twice with different hashes.
    """
    entries: dict[str, str] = {}
    reversed_form: bool | None = None  # decided by the first untagged line, as coreutils does
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line or line.startswith("#"):
            continue
        try:
            digest, path, reversed_form = _split(line, reversed_form)
        except _Malformed:
            raise ChecksumIndexError(
                f"{source}: line {number} is not '<sha256>  <path>' (as sha256sum -c reads it): {line[:80]!r}"
            ) from None
        path = _clean_path(path, source=source, number=number)
        if entries.get(path, digest) != digest:
            raise ChecksumIndexError(f"{source}: line {number} lists {path!r} again with another hash")
        entries[path] = digest
    return entries


def _split(line: str, reversed_form: bool | None) -> tuple[str, str, bool | None]:
    """(lower-case hash, name, the file's form from now on) for one line; _Malformed otherwise."""
    i = len(line) - len(line.lstrip(_BLANKS))
    escaped = line[i : i + 1] == "\\"
    i += escaped
    if line.startswith(_TAG, i):
        j = i + len(_TAG) + (line[i + len(_TAG) : i + len(_TAG) + 1] == " ")
        if line[j : j + 1] == "(":
            return (*_split_tagged(line[j + 1 :], escaped), reversed_form)
    digest = line[i : i + HEX_DIGITS]
    rest = line[i + HEX_DIGITS :]
    if not _HEX_RE.fullmatch(digest) or rest[:1] not in tuple(_BLANKS) or len(rest) < 2:
        raise _Malformed
    rest = rest[1:]
    if len(rest) == 1 or rest[0] not in " *":
        if reversed_form is False:
            raise _Malformed  # a reversed line after standard ones
        reversed_form = True
    elif reversed_form is not True:
        reversed_form = False
        rest = rest[1:]  # the text (" ") or binary ("*") marker
    return digest.lower(), _unescape(rest) if escaped else rest, reversed_form


def _split_tagged(rest: str, escaped: bool) -> tuple[str, str]:
    """`name) = <hash>` of a tagged line, the name ending at the last ")"."""
    end = rest.rfind(")")
    if end < 0:
        raise _Malformed
    name = _unescape(rest[:end]) if escaped else rest[:end]
    digest = rest[end + 1 :].lstrip(_BLANKS)
    if not digest.startswith("="):
        raise _Malformed
    digest = digest[1:].lstrip(_BLANKS)
    if not _HEX_RE.fullmatch(digest):
        raise _Malformed
    return digest.lower(), name


def _unescape(name: str) -> str:
    """coreutils' filename_unescape: only \\\\n, \\\\r and \\\\\\\\ are escapes."""
    out, i = [], 0
    while i < len(name):
        if name[i] == "\\":
            if name[i + 1 : i + 2] not in _ESCAPES:
                raise _Malformed
            out.append(_ESCAPES[name[i + 1]])
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _clean_path(path: str, *, source: str, number: int) -> str:
    if "\\" in path or "\x00" in path or path.startswith("/"):
        raise ChecksumIndexError(f"{source}: line {number} has an unsafe path {path!r}")
    if path.startswith("./"):
        path = path[2:]
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts):
        raise ChecksumIndexError(f"{source}: line {number} has an unsafe path {path!r}")
    return posixpath.normpath(path)
