"""Is what a version dir serves still what was installed? A cheap check every run, every hash on demand.

A version dir holds its files, `SHA256SUMS` (the hashes they were verified against, in
`sha256sum -c` format) and `.stat.json`, written when it was built: each file's size and mtime
(ns). Every run compares each served file's lstat with that record (a few syscalls per file);
a file that differs (truncated, overwritten in place: both change the size or the mtime) or has
no record (a version dir built before records were kept) is hashed and compared with
`SHA256SUMS`. `import_pxe_files --verify` hashes every file whatever the record says, for what
a stat cannot see (bytes changed in place with the mtime put back, bit rot).

A file that hashes right is recorded anew; one that does not is Damage, and the importer repairs
its set (fetches it again and swaps in a rebuilt version dir). No Django here.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pxeimport.lib import FILE_MODE, is_kind, sha256_file, write_atomic

MANIFEST = "SHA256SUMS"
STAT_FILE = ".stat.json"


@dataclass(frozen=True)
class InstalledFile:
    """A served file and its expected SHA-256. `hashed`: the hash was computed from the file itself
    (the old script's layout, with no manifest), so there is nothing to check it against."""

    path: Path
    sha256: str
    hashed: bool = False


@dataclass(frozen=True)
class Damage:
    name: str
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def read_manifest(version_dir: Path) -> dict[str, InstalledFile] | None:
    """The files a version dir lists, if it is a real directory and they are all regular files in it.

    None otherwise: a version dir (or a file in it) planted as a symlink is never trusted, since
    its name is predictable from the signed index but its target is not what was verified.
    """
    if not is_kind(version_dir, stat.S_ISDIR) or not is_kind(version_dir / MANIFEST, stat.S_ISREG):
        return None
    try:
        text = (version_dir / MANIFEST).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    files = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        path = version_dir / name
        if not name or "/" in name or not is_kind(path, stat.S_ISREG):
            return None
        files[name] = InstalledFile(path, digest)
    return files


def _fingerprint(path: Path) -> list[int]:
    st = os.lstat(path)
    return [st.st_size, st.st_mtime_ns]


def record(version_dir: Path, names: Iterable[str]) -> None:
    """Write `.stat.json` for `names` in `version_dir` (their files verified just before)."""
    _write_record(version_dir, {name: _fingerprint(version_dir / name) for name in names})


def _write_record(version_dir: Path, stats: dict[str, list[int]]) -> None:
    text = json.dumps(dict(sorted(stats.items())), indent=1)
    write_atomic(version_dir / STAT_FILE, text.encode(), FILE_MODE, sync_dir=False)


def _recorded(version_dir: Path) -> dict[str, list[int]]:
    try:
        data = json.loads((version_dir / STAT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check(files: Mapping[str, InstalledFile], *, deep: bool = False, writable: bool = True) -> list[Damage]:
    """The served files that are not what their version dir's SHA256SUMS lists, with what is wrong.

    Cheap unless `deep` (see the module). `writable`: record the stats of files found right when
    their record was missing or stale (False for a dry run). A file that cannot be read is Damage too.
    """
    damage: list[Damage] = []
    by_dir: dict[Path, dict[str, InstalledFile]] = {}
    for name, f in files.items():
        if not f.hashed:
            by_dir.setdefault(f.path.parent, {})[name] = f
    for directory, listed in by_dir.items():
        recorded = _recorded(directory)
        found = [d for name, f in listed.items() if (d := _check_file(name, f, recorded, deep)) is not None]
        damage += found
        fresh = {f.path.name: _fingerprint(f.path) for f in listed.values()} if not found else {}
        if writable and fresh and any(recorded.get(n) != fp for n, fp in fresh.items()):
            with contextlib.suppress(OSError):
                _write_record(directory, {**recorded, **fresh})
    return damage


def _check_file(name: str, f: InstalledFile, recorded: Mapping[str, list[int]], deep: bool) -> Damage | None:
    try:
        if not deep and recorded.get(f.path.name) == _fingerprint(f.path):
            return None
        actual = sha256_file(f.path)
        if actual == f.sha256:
            return None
        size = f.path.stat().st_size
    except OSError as exc:
        return Damage(name, f.path, f"cannot be read: {exc.strerror or exc}")
    return Damage(name, f.path, f"{size} bytes, SHA-256 {actual}; its {MANIFEST} lists {f.sha256}")
