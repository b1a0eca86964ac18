"""Validation of architecture, release and source names that become path components."""

from __future__ import annotations

import re

# Lower-case, starts with a letter or digit, no "/" and so no way out of a directory.
# \Z, not $: "$" also matches before a final newline, and validators use re.search.
NAME_PATTERN = r"^[a-z0-9][a-z0-9.+_-]{0,63}\Z"
_NAME_RE = re.compile(NAME_PATTERN)


class InvalidName(ValueError):
    """A name that must not become a path component."""


def check_name(kind: str, value: str) -> str:
    """Return `value` if it is safe as one path component, else raise InvalidName.

    `kind` ("architecture", "release", ...) only shapes the message. ".." and names made of
    dots alone are refused even though the pattern would admit "..x"-style names.
    """
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value) or set(value) <= {"."}:
        raise InvalidName(
            f"invalid {kind} name {value!r}: use 1-64 characters from a-z 0-9 . + _ -, starting with a letter or digit"
        )
    return value
