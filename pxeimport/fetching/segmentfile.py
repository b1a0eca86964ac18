"""The one file a segmented download fills at its offsets, and the sidecar that says how far each piece got.

The file is preallocated to its full length (posix_fallocate, so a full disk shows now rather
than half-way; ftruncate where the filesystem cannot). With a partial directory
(pxeimport.fetching.resume) the file is the partial's data file, and its sidecar `<sha256>.json` holds
`{"url", "validator", "total", "started", "segments": [[start, end, written], ...]}`
(pxeimport.fetching.pieces); a sidecar without "segments" is a single stream's, left to pxeimport.fetching.resume.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pxeimport.fetching.pieces import Piece, Pieces
from pxeimport.fetching.resume import DIR_MODE, Partial
from pxeimport.lib import FILE_MODE, write_atomic


@dataclass
class Staged:
    """The file being filled: its fd (read-write), where it is, and what is known of it."""

    url: str
    fd: int
    path: Path
    total: int
    validator: str
    pieces: Pieces
    partial: Partial | None
    started: float

    @classmethod
    def create(
        cls, url: str, path: Path, total: int, validator: str, partial: Partial | None, sizes: tuple[int, int]
    ) -> Staged:
        """A new file of `total` bytes at `path` (a partial's data file when `partial`); OSError if not.
        `sizes`: the smallest piece split off and the largest request, in bytes (pxeimport.fetching.pieces)."""
        if partial is not None:
            partial.discard()
            partial.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(partial.directory, DIR_MODE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
        staged = cls(url, fd, path, total, validator, Pieces(total, [Piece(0, total, 0, 0, 0)], *sizes), partial, 0)
        staged.started = time.time()
        try:
            os.fchmod(fd, FILE_MODE)
            _preallocate(fd, total)
            staged.save()
        except BaseException:
            os.close(fd)
            raise
        return staged

    @classmethod
    def reopen(cls, url: str, partial: Partial, sizes: tuple[int, int]) -> Staged | None:
        """The segmented partial of `url` an earlier attempt kept; None when there is none, and the
        partial discarded when it is unusable (another URL, odd sidecar, data of another length)."""
        try:
            meta = json.loads(partial.meta.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or "segments" not in meta:
            return None
        total, validator, started = meta.get("total"), meta.get("validator"), meta.get("started")
        pieces = Pieces.load(meta["segments"], total, *sizes) if type(total) is int else None
        fd = -1
        with contextlib.suppress(OSError):
            if pieces is not None and meta.get("url") == url and isinstance(validator, str):
                fd = os.open(partial.data, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        if fd >= 0 and os.fstat(fd).st_size == total and pieces is not None and isinstance(validator, str):
            when = started if isinstance(started, int | float) else time.time()
            return cls(url, fd, partial.data, pieces.total, validator, pieces, partial, when)
        if fd >= 0:
            os.close(fd)
        partial.discard()
        return None

    def save(self) -> None:
        """Record each piece's progress in the sidecar (nothing without a partial directory)."""
        if self.partial is None:
            return
        record = {
            "url": self.url,
            "validator": self.validator,
            "total": self.total,
            "started": self.started,
            "segments": self.pieces.record(),
        }
        write_atomic(self.partial.meta, json.dumps(record).encode(), 0o600, sync_dir=False)

    def close(self) -> None:
        """Keep what was written for the next attempt: the sidecar saved, the file closed."""
        with contextlib.suppress(OSError):
            self.save()
        os.close(self.fd)

    def drop(self) -> None:
        """Close the file and forget the partial (its bytes are of no use to a later attempt)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self.partial is not None:
            self.partial.discard()


def _preallocate(fd: int, size: int) -> None:
    """Reserve `size` bytes (ENOSPC now, not half-way); ftruncate where the filesystem cannot."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.ftruncate(fd, size)
