"""HTTP for the importer: one session, timeouts, retries with backoff, streaming with hashing, resuming.

Retrying is decided here, once per URL, with one budget (`retries`) whatever the trouble:
connection failures, timeouts, 429 and 5xx answers, and bodies that break off are retried with
exponential backoff (longer if the server asks with Retry-After, up to a cap); answers that
another try would only repeat are not: 404, other 4xx, a hash mismatch, a body over the size
limit, a redirect loop or a redirect to another scheme, a TLS certificate that does not verify,
and a full disk. Redirects are followed here too, so each hop is checked: http and https only,
and never from https down to plain http.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from pxeimport.fetching.budget import HostBudgets
from pxeimport.fetching.errors import (
    ALLOWED_SCHEMES,
    FetchError,
    check_space,
    content_length,
    describe,
    hop,
    write_error,
)
from pxeimport.fetching.hops import get
from pxeimport.fetching.indexcache import IndexCache
from pxeimport.fetching.resume import Partial
from pxeimport.fetching.retry import Transient, attempts
from pxeimport.fetching.segments import Progress, SplitFailed, Splitter, Transport
from pxeimport.lib import HashingWriter, open_truncated, redact_url

__all__ = ["Downloaded", "FetchSettings", "Fetcher"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20

_T = TypeVar("_T")


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Attempts after the first, per URL, for failures another attempt may not meet.
    retries: int = 3
    # Seconds before the first retry; doubled for each one after.
    backoff: float = 0.5
    # A server asking for hours in Retry-After would hold the TFTP root's lock that long.
    retry_after_max: float = 60.0
    max_redirects: int = 5
    # Requests in flight at once to one host, across all threads using this fetcher (pxeimport.fetching.budget).
    max_connections: int = 4
    # A file this big, from a server that does ranges, is fetched in segments over spare connections.
    split_min_bytes: int = 64 << 20
    # No segment smaller than this is split off (pxeimport.fetching.pieces).
    split_piece_bytes: int = 4 << 20
    # A first stream faster than this (bytes/s) is not split: no per-connection limit holds it back.
    split_below_rate: int = 32 << 20
    max_file_bytes: int = 4 << 30
    # An index is held in memory: InRelease (~150 KB), SHA256SUMS, and Packages.xz (Debian 12's main for
    # amd64 is 8.8 MB, which a 4 MiB cap refused); a server sending more is flooding, not indexing.
    max_index_bytes: int = 32 << 20
    # With a partial_dir, files from this size (by Content-Length) download resumably; smaller ones start over.
    resume_min_bytes: int = 16 << 20
    user_agent: str = "pxeimport"


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


class Fetcher:
    """Fetches indexes as bytes and files to disk; counts the bytes it pulled."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        index_cache: IndexCache | None = None,
        proxies: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings or FetchSettings()
        self.index_cache = index_cache
        # {URL prefix (a source's URL): proxy URL}; other URLs use http_proxy/https_proxy/no_proxy.
        self.proxies = dict(proxies or {})
        self._cancelled = threading.Event()
        # Downloads run in several threads; the count is shared.
        self._count_lock = threading.Lock()
        self.budgets = HostBudgets(self.settings.max_connections)
        self._splitter = Splitter(
            Transport(self._exchange, self._body, self.budgets, self._cancelled.is_set, self.settings)
        )
        self.bytes_downloaded = 0
        # {URL: Content-Type} of the indexes fetched, to say what arrived when one is not what it should be.
        self._content_types: dict[str, str] = {}
        # {URL: seconds this machine's clock was ahead of the server's when the index arrived (its Date header)}.
        self._clock_offsets: dict[str, float] = {}

    def content_type(self, url: str) -> str | None:
        """The Content-Type the server gave `url`'s body this run; None if unknown (or from the cache)."""
        with self._count_lock:
            return self._content_types.get(url)

    def clock_offset(self, url: str) -> float | None:
        """How many seconds this machine's clock was ahead of the server's when `url` (an index fetched
        this run) arrived, from its HTTP Date header (RFC 9110 section 6.6.1; one-second resolution);
        None when the server sent no valid Date or the index was not fetched."""
        with self._count_lock:
            return self._clock_offsets.get(url)

    def _new_session(self) -> requests.Session:
        """A session for one fetch (its redirects included), closed after it.

        One fetch per connection, deliberately: bytes a server sends past the end of a body (by a
        bug or on purpose) must never be read as the answer to the next request, and no thread
        ever shares a connection (or a requests.Session, which is not thread-safe) with another.
        The cost is a TCP (and TLS) handshake per file, small beside the files themselves.
        """
        session = requests.Session()
        session.headers["User-Agent"] = self.settings.user_agent
        # The bytes on disk must be the bytes the index hashed: a server that labels initrd.gz
        # "Content-Encoding: gzip" must not get it decompressed on the way.
        session.headers["Accept-Encoding"] = "identity"
        # No retries below this class: one budget per URL, counted in `_with_retries`.
        adapter = HTTPAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        """Nothing stays open between fetches; kept so callers can always close a fetcher."""

    def cancel(self) -> None:
        """Make downloads in progress (in any thread) stop at their next chunk, and new ones refuse."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # Public API ------------------------------------------------------------------------------

    def get_bytes(self, url: str, sha256: str | None = None) -> bytes:
        """The body of `url` (an index or signature), fetched whole; FetchError past the index size limit.

        With `sha256` (what a verified signed parent lists for `url`), the cached copy with exactly
        that hash is used without a request (pxeimport.fetching.indexcache); the caller still checks the body.
        """

        def fetch() -> bytes:
            return self._with_retries(url, lambda: self._get_bytes_once(url))

        cache = self.index_cache
        return cache.listed(url, sha256, fetch) if cache is not None and sha256 is not None else fetch()

    def get_text(self, url: str) -> str:
        """The body of `url` as UTF-8 text."""
        try:
            return self.get_bytes(url).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FetchError(url, "index is not UTF-8 text") from exc

    def download(
        self,
        url: str,
        dest: Path,
        expected_sha256: str,
        progress: Progress | None = None,
        *,
        partial_dir: Path | None = None,
    ) -> Downloaded:
        """Stream `url` into `dest` (created 0644), hashing as it goes; verify against the index.

        When the server states the size, a file that does not fit is refused before a byte is
        written (NoSpace). On any failure `dest` is removed. `progress(bytes so far, total or
        None)` is called as chunks arrive (from this thread).

        With `partial_dir` (see pxeimport.fetching.resume), the bytes go first to `partial_dir`/<sha256>,
        kept when the attempt is cut off (network trouble, the run stopped or killed) and
        continued by the next attempt or run with Range + If-Range; a partial whose file turns out
        wrong (a hash mismatch after resuming: retried from byte 0), or that failed for any other
        reason, is discarded. The verified file is renamed to `dest` and nothing stays behind.
        """
        partial = Partial(partial_dir, expected_sha256) if partial_dir is not None else None
        try:
            return self._with_retries(
                url,
                lambda: self._download_attempt(url, dest, expected_sha256, progress, partial),
                before_retry=lambda: dest.unlink(missing_ok=True),
            )
        except BaseException as exc:
            dest.unlink(missing_ok=True)
            # A partial is kept for the next run only when another try may finish it: after a
            # network failure, or when the run stops. Anything else makes it suspect.
            failed = isinstance(exc, FetchError) and not isinstance(exc.__cause__, Transient)
            if partial is not None and failed and not self.cancelled:
                partial.discard()
            raise

    # Attempts --------------------------------------------------------------------------------

    def size(self, url: str) -> int | None:
        """The Content-Length a HEAD request announces for `url`; None when unknown or unreachable."""
        if self.cancelled or urlsplit(url).scheme not in ALLOWED_SCHEMES:
            return None
        proxy = self._source_proxy(url)
        try:
            with self.budgets(url).connection(), self._new_session() as session:
                response = session.head(
                    url,
                    timeout=self._timeout,
                    allow_redirects=True,
                    proxies={"http": proxy, "https": proxy} if proxy else None,
                )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        return content_length(response)

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request for `url` goes through: its source's, else the environment's, else none."""
        return self._source_proxy(url) or requests.utils.get_environ_proxies(url).get(urlsplit(url).scheme)

    def _source_proxy(self, url: str) -> str | None:
        prefixes = [p for p in self.proxies if url.startswith(p)]
        return self.proxies[max(prefixes, key=len)] if prefixes else None

    def _with_retries(self, url: str, attempt: Callable[[], _T], before_retry: Callable[[], None] | None = None) -> _T:
        try:
            s = self.settings
            return attempts(
                url,
                attempt,
                retries=s.retries,
                backoff=s.backoff,
                retry_after_max=s.retry_after_max,
                before_retry=before_retry,
            )
        except FetchError as exc:
            proxy = self.proxy_for(url)
            if proxy and "through proxy" not in exc.reason:
                # Which hop went through which proxy is the first question when a fetch fails.
                exc.reason += f" (through proxy {redact_url(proxy)})"
                exc.args = (f"{exc.url}: {exc.reason}",)
            raise

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    @contextlib.contextmanager
    def _response(self, url: str, headers: dict[str, str] | None = None) -> Iterator[requests.Response]:
        with self.budgets(url).connection(), self._exchange(url, headers) as response:
            yield response

    @contextlib.contextmanager
    def _exchange(self, url: str, headers: dict[str, str] | None = None) -> Iterator[requests.Response]:
        """One request on a session of its own; the caller holds a connection of `url`'s budget."""
        with self._new_session() as session:
            response = get(url, session, headers, self._source_proxy(url), self._timeout, self.settings.max_redirects)
            try:
                yield response
            finally:
                response.close()

    def _get_bytes_once(self, url: str) -> bytes:
        # max-age=0, as apt asks for indexes: a caching proxy on the way must not answer from its copy.
        with self._response(url, {"Cache-Control": "max-age=0"}) as response:
            body = bytearray()
            for chunk in self._body(response, url):
                body += chunk
                if len(body) > self.settings.max_index_bytes:
                    raise FetchError(url, f"index larger than {self.settings.max_index_bytes} bytes")
            offset = _clock_offset(response.headers.get("Date"))
            with self._count_lock:
                self._content_types[url] = response.headers.get("Content-Type", "")
                if offset is not None:
                    self._clock_offsets[url] = offset
        return bytes(body)

    def _download_attempt(
        self, url: str, dest: Path, sha256: str, progress: Progress | None, partial: Partial | None
    ) -> Downloaded:
        """One attempt: in segments where that pays (fetching.segments); else, or when ranges fail, one stream."""
        try:
            return self._download_once(url, dest, sha256, progress, partial)
        except SplitFailed as exc:
            log.info("%s: %s; fetching it again as one stream", url, exc)
            self._splitter.whole.add(url)
            return self._download_once(url, dest, sha256, progress, partial)

    def _download_once(
        self,
        url: str,
        dest: Path,
        expected_sha256: str,
        progress: Progress | None,
        partial: Partial | None,
    ) -> Downloaded:
        if partial is not None and (staged := self._splitter.saved(url, partial)) is not None:
            with self.budgets(url).connection():
                return Downloaded(*self._splitter.run(staged, dest, expected_sha256, progress))
        point = partial.point(url) if partial is not None else None
        if partial is not None and point is not None and point.size == point.total:
            done = partial.completed(dest, expected_sha256)  # a run killed between the last byte and the rename
            if done is not None:
                return Downloaded(dest, *done)
            point = None
        limit = self.settings.max_file_bytes
        with self._response(url, point.headers() if point is not None else None) as response:
            if point is None and (staged := self._splitter.start(url, response, dest, partial)) is not None:
                return Downloaded(*self._splitter.run(staged, dest, expected_sha256, progress, response))
            if (
                point is None
                and partial is not None
                and (content_length(response) or 0) < self.settings.resume_min_bytes
            ):
                partial = None  # a small file starts over: its sidecar and fsyncs would cost more than a retry
            target = partial.data if partial is not None else dest
            try:
                if partial is not None:
                    writer, total = partial.writer(url, response, point)
                else:
                    writer, total = HashingWriter(open_truncated(dest)), content_length(response)
            except OSError as exc:
                raise write_error(url, target, exc, 0) from exc
            resumed_at = writer.size
            try:
                if total is not None and total > limit:
                    raise FetchError(url, f"Content-Length {total} exceeds the limit of {limit} bytes")
                if total is not None:
                    check_space(url, target.parent, total - writer.size)
                for chunk in self._body(response, url):
                    if writer.size + len(chunk) > limit:
                        raise FetchError(url, f"body exceeds the limit of {limit} bytes")
                    writer.write(chunk)
                    if progress is not None:
                        progress(writer.size, total)
                os.fsync(writer.fd)
            except OSError as exc:
                raise write_error(url, target, exc, writer.size) from exc
            finally:
                writer.close()
        if total is not None and writer.size != total:
            raise Transient(f"body has {writer.size - resumed_at} bytes, Content-Length said {total - resumed_at}")
        if writer.sha256 != expected_sha256:
            mismatch = f"SHA-256 mismatch: index says {expected_sha256}, got {writer.sha256}"
            if resumed_at:
                assert partial is not None
                partial.discard()
                raise Transient(f"{mismatch} after resuming at byte {resumed_at}; the partial copy is discarded")
            raise FetchError(url, mismatch)
        if partial is not None:
            partial.finish(dest)
        return Downloaded(path=dest, size=writer.size, sha256=writer.sha256)

    def _body(self, response: requests.Response, url: str) -> Iterator[bytes]:
        """The body exactly as sent (no transparent decompression); a network failure is Transient.

        Only errors from reading the network are converted: one raised by the caller's loop body
        (a write to disk) is not thrown into this generator.
        """
        try:
            for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                if self._cancelled.is_set():
                    raise FetchError(response.url, "cancelled: the run is stopping")
                with self._count_lock:
                    self.bytes_downloaded += len(chunk)
                yield chunk
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise Transient(self._describe(exc) + hop(url, response.url)) from exc

    def _describe(self, exc: BaseException) -> str:
        return describe(exc, self.settings.connect_timeout, self.settings.read_timeout)


def _clock_offset(date_header: str | None) -> float | None:
    """Seconds this clock is ahead of the one that wrote `date_header` (an HTTP Date); None if not a date."""
    if not date_header:
        return None
    try:
        sent = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if sent.tzinfo is None:
        return None
    return time.time() - sent.timestamp()
