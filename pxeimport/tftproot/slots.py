"""Where an item's versions live (a Slot: version dirs and the pointers to one) and how a version is named."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VERSION_LENGTH = 16


def version_id(files: Mapping[str, str]) -> str:
    """A short id for a set of files, from their names and SHA-256 hashes (order-independent)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{files[name]}  {name}\n".encode())
    return digest.hexdigest()[:VERSION_LENGTH]


@dataclass(frozen=True)
class Slot:
    """Where one item lives: version dirs `<parent>/<prefix>-<version>/` and pointers to one.

    With `whole_dir`, one pointer `<prefix>` names the version dir; otherwise each file has its
    own pointer `<name>` -> `<prefix>-<version>/<name>` beside the version dirs.
    """

    parent: Path
    prefix: str
    whole_dir: bool

    def version_dir(self, version: str) -> Path:
        return self.parent / f"{self.prefix}-{version}"

    def parse_version(self, name: str) -> str | None:
        match = re.fullmatch(rf"{re.escape(self.prefix)}-([0-9a-f]{{{VERSION_LENGTH}}})", name)
        return match.group(1) if match else None
