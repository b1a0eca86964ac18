"""A big file fetched in Range segments over its host's spare connections, into one preallocated file.

When the first answer for a download is a 200 for a file of at least `min_bytes`, from a server
that does ranges (`Accept-Ranges: bytes`) and gives a strong validator (RFC 9110 8.8.1), the file
is preallocated (posix_fallocate, else ftruncate) and filled at its offsets (pwrite) by workers:

- This thread reads the 200 answer from byte 0. If that stream runs faster than
  `split_below_rate` over its first PROBE_SECONDS, nothing holds it back and it stays one stream.
  Else, while a connection of the host's budget is spare (pxeimport.fetching.budget: free, and no request
  waiting), another worker starts: it takes the tail half of the bytes not yet asked for of the
  largest piece (pxeimport.fetching.pieces) and asks for them, at most half of what its piece misses and
  REQUEST_PIECES pieces at a time, with `Range: bytes=a-b` and `If-Range: <validator>` (RFC 9110
  14.2, 13.1.5). A request is never cut short, except the first stream (once, at the start of the
  piece split off from it). A worker on a spare connection gives it up between requests when a
  request for another file or an index waits.
- SHA-256 cannot be combined from pieces, so the whole file is hashed in order before it is
  installed: the bytes of the piece from byte 0 as they arrive, the rest read back after the
  last byte (from the page cache: about 0.8 s per GiB here, see BENCHMARKS.md).
- A 200 to a range request (the server ignores ranges, or the validator changed: the file changed
  upstream mid-download), a 206 for other bytes than asked, or an error answer raises SplitFailed:
  the pieces are dropped and the caller fetches the file again as one stream, whose hash decides.
- With a partial directory (pxeimport.fetching.resume), its sidecar also records each piece's progress,
  `"segments": [[start, end, bytes written up to], ...]`, at most every `SAVE_SECONDS` and when an
  attempt ends; the next attempt (or run) asks only for what each piece still misses.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

from pxeimport.fetching.budget import Budget, HostBudgets
from pxeimport.fetching.errors import FetchError, check_space, content_length, write_error
from pxeimport.fetching.pieces import Piece
from pxeimport.fetching.resume import Partial, content_range, validator
from pxeimport.fetching.retry import Transient
from pxeimport.fetching.segmentfile import Staged
from pxeimport.lib import BLOCK_SIZE, WRITEBACK_STEP, StreamDigest, pwrite_all, start_writeback

log = logging.getLogger(__name__)

SAVE_SECONDS = 1.0
# The largest request, in pieces (16 MiB by default: 8 s at a mirror's 2 MB/s per connection).
REQUEST_PIECES = 4
# After cutting the first answer short, a pause before the next request: a server sees a closed
# connection only at its next write, and till then would count one connection over the budget.
SETTLE_SECONDS = 0.2
# How long the first stream runs alone before its rate decides whether splitting can pay.
PROBE_SECONDS = 0.5
# What a worker waits between looks at the pieces when it has none (also how often progress is told).
IDLE_SECONDS = 0.25

Progress = Callable[[int, int | None], None]


class SplitFailed(Exception):
    """This file cannot be fetched in ranges; fetch it again as one stream. The message says why."""


class _Stopped(Exception):
    """A helper stops because the attempt is ending (this thread's worker failed or another did)."""


@dataclass(frozen=True)
class Transport:
    """What the fetcher lends: a request without taking a connection of the budget (the caller holds
    one), its body as counted chunks (Transient on network trouble), and the per-host budgets."""

    exchange: Callable[[str, dict[str, str] | None], AbstractContextManager[requests.Response]]
    body: Callable[[requests.Response, str], Iterator[bytes]]
    budgets: HostBudgets
    cancelled: Callable[[], bool]
    settings: Limits


class Limits(Protocol):
    """The fetcher's settings this module reads (pxeimport.fetching.client.FetchSettings)."""

    @property
    def retries(self) -> int: ...
    @property
    def split_min_bytes(self) -> int: ...
    @property
    def split_piece_bytes(self) -> int: ...
    @property
    def split_below_rate(self) -> int: ...
    @property
    def max_file_bytes(self) -> int: ...


class Splitter:
    """Starts, runs and resumes segmented downloads for one fetcher; remembers files that fell back."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        # URLs fetched as one stream for the rest of the run, after their ranges failed.
        self.whole: set[str] = set()

    def start(self, url: str, response: requests.Response, dest: Path, partial: Partial | None) -> Staged | None:
        """A preallocated file for `response`'s body when it is worth splitting, else None."""
        total, strong = content_length(response), validator(response.headers)
        ranges = response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
        wanted = response.status_code == 200 and ranges and strong is not None and url not in self.whole
        if not wanted or total is None or total < self.transport.settings.split_min_bytes:
            return None
        if total > self.transport.settings.max_file_bytes:
            return None  # the single stream refuses it, with its message
        assert strong is not None
        path = partial.data if partial is not None else dest
        check_space(url, path.parent, total)
        try:
            return Staged.create(url, path, total, strong, partial, self._sizes)
        except OSError as exc:
            raise write_error(url, path, exc, 0) from exc

    def saved(self, url: str, partial: Partial) -> Staged | None:
        """The segmented partial of `url` an earlier attempt kept (see Staged.reopen); None if none."""
        if url in self.whole:
            return None
        return Staged.reopen(url, partial, self._sizes)

    @property
    def _sizes(self) -> tuple[int, int]:
        """The smallest piece split off, and the largest request: a few pieces, so a worker comes
        back to the budget often enough to yield its connection to a waiting request."""
        piece = self.transport.settings.split_piece_bytes
        return piece, REQUEST_PIECES * piece

    def run(
        self,
        staged: Staged,
        dest: Path,
        expected_sha256: str,
        progress: Progress | None,
        first: requests.Response | None = None,
    ) -> tuple[Path, int, str]:
        """Fill `staged` (reading `first` from byte 0 if given), fsync it, check the whole file's SHA-256,
        move a partial's file to `dest`; (dest, size, sha256). On failure the file is closed and a
        partial's sidecar saved; after SplitFailed or a hash mismatch the partial is discarded."""
        job = _Job(self, staged, progress)
        try:
            job.run(first)
            os.fsync(staged.fd)
            digest = job.finish_hash()
        except SplitFailed:
            staged.drop()
            raise
        except OSError as exc:
            staged.close()
            raise write_error(staged.url, staged.path, exc, staged.pieces.written) from exc
        except BaseException:
            staged.close()
            raise
        finally:
            job.digest.close()
        os.close(staged.fd)
        if digest != expected_sha256:
            staged.drop()
            raise FetchError(staged.url, f"SHA-256 mismatch: index says {expected_sha256}, got {digest}")
        if staged.partial is not None:
            staged.partial.finish(dest)
        return dest, staged.total, digest


class _Job:
    """One attempt at a segmented download: this thread's worker and the helpers it starts."""

    def __init__(self, splitter: Splitter, staged: Staged, progress: Progress | None) -> None:
        self.splitter = splitter
        self.transport = splitter.transport
        self.staged = staged
        self.pieces = staged.pieces
        self.progress = progress
        self.budget: Budget = self.transport.budgets(staged.url)
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.helpers: list[threading.Thread] = []
        self.helper_failures = 0
        self.lock = threading.Lock()
        self.saved_at = time.monotonic()
        self.digest = StreamDigest()  # hashed on its own thread, in order
        self.hashed = 0
        # Until the first stream has run PROBE_SECONDS, no helper starts; after, none if it ran fast.
        self.began = time.monotonic()
        self.probing = False
        self.fast = False

    def run(self, first: requests.Response | None) -> None:
        try:
            if first is not None:
                self.probing = True
                piece = self.pieces.take(open_ended=True)
                assert piece is not None and piece.start == 0
                try:
                    self._read(piece, first, main=True)
                finally:
                    first.close()  # before this thread asks for another piece: one connection each
                    self.pieces.give_back(piece)
                if piece.end < self.staged.total:
                    time.sleep(SETTLE_SECONDS)  # the first answer was cut short: let the server see it
            while not self.pieces.complete():
                self._raise_failure()
                piece = self.pieces.take()
                if piece is None:
                    with self.pieces.changed:
                        self.pieces.changed.wait(IDLE_SECONDS)
                    self._tick()
                    continue
                try:
                    self._fetch(piece, main=True)
                finally:
                    self.pieces.give_back(piece)
            self._raise_failure()
        except BaseException:
            self.stop.set()
            raise
        finally:
            for helper in list(self.helpers):
                helper.join()
        self._raise_failure()

    def finish_hash(self) -> str:
        """The SHA-256 of the whole file: what was hashed in order, then the rest read back."""
        fd, total = self.staged.fd, self.staged.total
        while self.hashed < total:
            block = os.pread(fd, min(BLOCK_SIZE, total - self.hashed), self.hashed)
            if not block:
                raise OSError(errno.EIO, f"{self.staged.path} ends at byte {self.hashed} of {total}")
            self.digest.update(block)
            self.hashed += len(block)
        return self.digest.hexdigest()

    # Workers ---------------------------------------------------------------------------------

    def _helper(self) -> None:
        """A worker on a spare connection: pieces until none is left, a request waits, or it fails."""
        try:
            while not self.stop.is_set() and not self.budget.wanted:
                piece = self.pieces.take()
                if piece is None:
                    return
                try:
                    self._fetch(piece, main=False)
                finally:
                    self.pieces.give_back(piece)
        except _Stopped:
            pass
        except Transient as exc:
            log.info("%s: a segment failed (%s); its bytes go to another connection", self.staged.url, exc)
            with self.lock:
                self.helper_failures += 1
        except BaseException as exc:
            with self.lock:
                self.failure = self.failure or exc
            self.stop.set()
        finally:
            self.budget.release()

    def _fetch(self, piece: Piece, *, main: bool) -> None:
        """Ask for what `piece` misses, a request at a time, and write it; SplitFailed unless each
        answer is the 206 asked for. A helper stops between requests when another request waits."""
        url = self.staged.url
        while piece.written < piece.end and (main or not self.budget.wanted):
            first, last = self.pieces.ask(piece)
            headers = {"Range": f"bytes={first}-{last}", "If-Range": self.staged.validator}
            try:
                with self.transport.exchange(url, headers) as response:
                    if response.status_code != 206:
                        changed = validator(response.headers) != self.staged.validator
                        why = "the file changed upstream" if changed else "the server ignores ranges"
                        raise SplitFailed(f"asked for bytes {first}-{last}, got HTTP {response.status_code}: {why}")
                    sent = content_range(response.headers.get("Content-Range"))
                    if sent != (first, self.staged.total):
                        got = response.headers.get("Content-Range")
                        raise SplitFailed(f"asked for bytes {first}-{last} of {self.staged.total}, got {got!r}")
                    self._read(piece, response, main=main)
            except FetchError as exc:
                if self.transport.cancelled():
                    raise
                raise SplitFailed(f"a range request failed: {exc.reason}") from exc

    def _read(self, piece: Piece, response: requests.Response, *, main: bool) -> None:
        """Write `response`'s body at `piece`'s offsets up to what was asked (an open answer: up to the
        piece's end, however it moves); Transient if it breaks off before."""
        fd, flushed = self.staged.fd, piece.written
        for chunk in self.transport.body(response, self.staged.url):
            if self.stop.is_set():
                self._raise_failure()
                raise _Stopped
            offset, size = self.pieces.claim(piece, len(chunk))
            pwrite_all(fd, memoryview(chunk)[:size], offset)
            if main and offset == self.hashed:
                self.digest.update(chunk[:size])
                self.hashed += size
            self.pieces.wrote(piece)
            if piece.written - flushed >= WRITEBACK_STEP:
                start_writeback(fd, flushed, piece.written - flushed)
                flushed = piece.written
            self._start_helper()
            if main:
                self._tick()
            if size < len(chunk) or piece.written >= (piece.end if piece.open else min(piece.end, piece.asked)):
                return
        stop = piece.end if piece.open else min(piece.end, piece.asked)
        if piece.written < stop:
            raise Transient(f"segment ended at byte {piece.written}, {stop - piece.written} bytes short")

    def _start_helper(self) -> None:
        if self.probing:  # only this thread runs until the probe ends
            elapsed = time.monotonic() - self.began
            if elapsed < PROBE_SECONDS:
                return
            self.probing = False
            # Segments only pay where a per-connection limit holds a stream back; past that, they
            # cost the re-read of the hash (and CPU beside the server's).
            self.fast = self.pieces.written / elapsed > self.transport.settings.split_below_rate
        if self.fast:
            return
        with self.lock:
            if self.helper_failures > self.transport.settings.retries or self.stop.is_set():
                return
        if not self.pieces.splittable() or not self.budget.try_spare():
            return
        helper = threading.Thread(target=self._helper, name="pxeimport-segment", daemon=True)
        with self.lock:
            self.helpers.append(helper)  # before it starts: `run` joins every helper in this list
        try:
            helper.start()
        except BaseException:
            with self.lock:
                self.helpers.remove(helper)
            self.budget.release()
            raise

    def _tick(self) -> None:
        """In this thread only: tell progress, save the sidecar now and then, start helpers."""
        if self.progress is not None:
            self.progress(self.pieces.written, self.staged.total)
        if time.monotonic() - self.saved_at >= SAVE_SECONDS:
            self.staged.save()
            self.saved_at = time.monotonic()
        self._start_helper()

    def _raise_failure(self) -> None:
        with self.lock:
            failure = self.failure
        if failure is not None:
            raise failure
