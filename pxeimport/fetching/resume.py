"""Partial downloads kept between runs, so a big file (a 3 GB ISO) cut off continues where it stopped.

Layout of a `partial_dir` (0700, never served; e.g. <tftproot>/maas/.partial/, beside staging but
not emptied with it):

    <sha256>        the bytes received so far of the file the index says has this SHA-256 (0644)
    <sha256>.json   {"url": ..., "validator": ..., "total": bytes or null, "started": unix time}

The next attempt asks for the rest with `Range: bytes=<size>-` and `If-Range: <validator>` (RFC 9110
14.2 and 13.1.5): the server sends 206 and only the rest while the representation is unchanged, or
200 and the whole file when it changed or the server does not do ranges; then the partial starts
over. The validator is the strong ETag, else Last-Modified when it is a strong validator (RFC 9110
8.8.2.2: at least a second older than the response's Date), else none, and a partial without one is
not resumed. The SHA-256 always covers the whole file: the kept prefix is hashed again before the
rest is appended. A completed, verified file is renamed to its destination and leaves nothing here.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import requests

from pxeimport.fetching.errors import content_length
from pxeimport.fetching.retry import Transient
from pxeimport.lib import BLOCK_SIZE, DEBRIS_RE, HashingWriter, copy_new, fsync_dir, open_new, write_atomic

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
DIR_MODE = 0o700


@dataclass(frozen=True)
class ResumePoint:
    """Where a kept partial stops: `size` bytes on disk of a file of `total` bytes (None: unknown)."""

    size: int
    validator: str
    total: int | None

    def headers(self) -> dict[str, str]:
        return {"Range": f"bytes={self.size}-", "If-Range": self.validator}


def validator(headers: requests.structures.CaseInsensitiveDict[str]) -> str | None:
    """The validator If-Range may carry for a response: a strong ETag, else a strong Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    modified, date = headers.get("Last-Modified"), headers.get("Date")
    if modified and date:
        try:
            if (parsedate_to_datetime(date) - parsedate_to_datetime(modified)).total_seconds() >= 1:
                return modified
        except (TypeError, ValueError):
            return None
    return None


def content_range(value: str | None) -> tuple[int, int | None] | None:
    """(first byte, complete length or None) of a 206's "Content-Range: bytes 10-99/100"; None if odd."""
    match = CONTENT_RANGE_RE.match((value or "").strip())
    if match is None:
        return None
    return int(match[1]), None if match[3] == "*" else int(match[3])


def _differ(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a != b


class Partial:
    """The kept partial download of the file whose SHA-256 is `sha256`, in `directory`."""

    def __init__(self, directory: Path, sha256: str) -> None:
        if not SHA256_RE.match(sha256):
            raise ValueError(f"not a SHA-256 (64 lower-case hex digits): {sha256!r}")
        self.directory = directory
        self.sha256 = sha256
        self.data = directory / sha256
        self.meta = directory / f"{sha256}.json"

    def point(self, url: str) -> ResumePoint | None:
        """Where to continue a download of `url`; None (and nothing kept) when there is nothing to
        continue: no partial, one for another URL, one without a validator, or one that is odd."""
        try:
            meta = json.loads(self.meta.read_text())
            size = os.stat(self.data, follow_symlinks=False).st_size
            point = ResumePoint(size, meta["validator"], meta["total"])
            usable = meta["url"] == url and isinstance(point.validator, str) and point.validator
            usable = usable and (point.total is None or (isinstance(point.total, int) and size <= point.total))
        except (OSError, ValueError, KeyError, TypeError):
            usable = False
        if not usable or point.size == 0:
            self.discard()
            return None
        return point

    def writer(
        self, url: str, response: requests.Response, point: ResumePoint | None
    ) -> tuple[HashingWriter, int | None]:
        """A writer that continues the partial (a 206 answer) or starts it over (a 200), and the
        file's complete length if known. Transient (the partial discarded) when a 206 does not
        start where the partial stops or names another length."""
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.directory, DIR_MODE)
        if response.status_code == 206:
            sent = content_range(response.headers.get("Content-Range"))
            if point is None or sent is None or sent[0] != point.size or _differ(sent[1], point.total):
                self.discard()
                asked = f"bytes {point.size}- of {point.total}" if point else "no range"
                raise Transient(f"asked for {asked}, got {response.headers.get('Content-Range')!r}; partial discarded")
            return self.continued(point.size), sent[1] if sent[1] is not None else point.total
        self.discard()
        total = content_length(response)
        record = {"url": url, "validator": validator(response.headers), "total": total, "started": time.time()}
        write_atomic(self.meta, json.dumps(record).encode(), 0o600)
        return HashingWriter(open_new(self.data)), total

    def continued(self, size: int) -> HashingWriter:
        """A writer appending to the kept partial, its digest fed with the `size` bytes kept."""
        fd = os.open(self.data, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            digest = hashlib.sha256()
            offset = 0
            while offset < size and (block := os.pread(fd, min(BLOCK_SIZE, size - offset), offset)):
                digest.update(block)
                offset += len(block)
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return HashingWriter(fd, size=offset, digest=digest)

    def completed(self, dest: Path, expected_sha256: str) -> tuple[int, str] | None:
        """(size, SHA-256) after moving a partial that holds the whole, right file to `dest`;
        None (and the partial discarded) when its hash is not `expected_sha256`."""
        writer = self.continued(os.stat(self.data).st_size)
        writer.close()
        if writer.sha256 != expected_sha256:
            self.discard()
            return None
        self.finish(dest)
        return writer.size, writer.sha256

    def finish(self, dest: Path) -> None:
        """Move the verified, complete file to `dest` (same filesystem: one rename) and forget it."""
        try:
            os.replace(self.data, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # partial_dir on another filesystem than dest: copy
                raise
            with open(self.data, "rb") as source:
                copy_new(source, dest)
            os.unlink(self.data)
        self.meta.unlink(missing_ok=True)
        fsync_dir(dest.parent)

    def discard(self) -> None:
        for path in (self.data, self.meta):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def remove_stale(
    directory: Path, *, wanted: Collection[str] | None, max_age_seconds: float, dry: bool = False
) -> list[Path]:
    """Delete partials no longer worth keeping; return the paths removed (`dry`: that would be).

    Removed: a partial whose hash is not in `wanted` (None: judge by age only), one untouched for
    `max_age_seconds` (its data or sidecar's mtime), half of a pair (data without sidecar or the
    reverse), and the temporaries a killed sidecar write left.
    """
    try:
        entries = {entry.name: entry for entry in os.scandir(directory)}
    except (FileNotFoundError, NotADirectoryError):
        return []
    now = time.time()
    removed = []
    for name, entry in entries.items():
        if entry.is_dir(follow_symlinks=False):
            continue
        sha256 = name.removesuffix(".json")
        pair = {sha256, f"{sha256}.json"}
        keep = SHA256_RE.match(sha256) is not None and pair <= entries.keys()
        keep = keep and (wanted is None or sha256 in wanted)
        keep = keep and all(now - entries[n].stat(follow_symlinks=False).st_mtime < max_age_seconds for n in pair)
        if not keep or DEBRIS_RE.match(name):
            with contextlib.suppress(FileNotFoundError):
                if not dry:
                    os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed
