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
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from pxeimport.files import HashingWriter, open_truncated
from pxeimport.httperrors import (
    ALLOWED_SCHEMES,
    FetchError,
    NoSpace,
    NotFound,
    Transient,
    check_redirect,
    check_scheme,
    check_space,
    content_length,
    describe,
    hop,
    retry_after_seconds,
    root_cause,
    write_error,
)
from pxeimport.indexcache import IndexCache
from pxeimport.redact import redact_url
from pxeimport.resume import Partial

# The public API; the errors live in httperrors and are exported from here as before.
__all__ = ["Downloaded", "FetchError", "FetchSettings", "Fetcher", "NoSpace", "NotFound"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
# Answers a later try may not get: rate limiting and server trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

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
    # Requests in flight at once, across all threads using this fetcher.
    max_connections: int = 4
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
        self._connections = threading.BoundedSemaphore(self.settings.max_connections)
        self.bytes_downloaded = 0
        # {URL: Content-Type} of the indexes fetched, to say what arrived when one is not what it should be.
        self._content_types: dict[str, str] = {}

    def content_type(self, url: str) -> str | None:
        """The Content-Type the server gave `url`'s body this run; None if unknown (or from the cache)."""
        with self._count_lock:
            return self._content_types.get(url)

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
        that hash is used without a request (pxeimport.indexcache); the caller still checks the body.
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
        progress: Callable[[int, int | None], None] | None = None,
        *,
        partial_dir: Path | None = None,
    ) -> Downloaded:
        """Stream `url` into `dest` (created 0644), hashing as it goes; verify against the index.

        When the server states the size, a file that does not fit is refused before a byte is
        written (NoSpace). On any failure `dest` is removed. `progress(bytes so far, total or
        None)` is called as chunks arrive (from this thread).

        With `partial_dir` (see pxeimport.resume), the bytes go first to `partial_dir`/<sha256>,
        kept when the attempt is cut off (network trouble, the run stopped or killed) and
        continued by the next attempt or run with Range + If-Range; a partial whose file turns out
        wrong (a hash mismatch after resuming: retried from byte 0), or that failed for any other
        reason, is discarded. The verified file is renamed to `dest` and nothing stays behind.
        """
        partial = Partial(partial_dir, expected_sha256) if partial_dir is not None else None
        try:
            return self._with_retries(
                url,
                lambda: self._download_once(url, dest, expected_sha256, progress, partial),
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
            with self._connections, self._new_session() as session:
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
            return self._attempts(url, attempt, before_retry)
        except FetchError as exc:
            proxy = self.proxy_for(url)
            if proxy and "through proxy" not in exc.reason:
                # Which hop went through which proxy is the first question when a fetch fails.
                exc.reason += f" (through proxy {redact_url(proxy)})"
                exc.args = (f"{exc.url}: {exc.reason}",)
            raise

    def _attempts(self, url: str, attempt: Callable[[], _T], before_retry: Callable[[], None] | None = None) -> _T:
        attempts = self.settings.retries + 1
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except Transient as exc:
                if number == attempts:
                    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                    raise FetchError(url, exc.reason + tries, status=exc.status) from exc
                delay = self._delay(number, exc.retry_after)
                log.info("%s: %s; attempt %d of %d in %.2f s", url, exc.reason, number + 1, attempts, delay)
                if before_retry is not None:
                    before_retry()
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, failed_attempts: int, retry_after: float | None) -> float:
        delay = self.settings.backoff * 2.0 ** (failed_attempts - 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.retry_after_max))
        return delay

    def _open(self, url: str, session: requests.Session, headers: dict[str, str] | None = None) -> requests.Response:
        """One GET of `url`, following redirects hop by hop; a 200 (or, asked for a range, 206)
        response to read, or an error. A 304 is an error: nothing is ever asked conditionally."""
        check_scheme(url, url)
        current = url
        hops = [url]
        while True:
            response = self._request(url, current, session, headers)
            status = response.status_code
            at = hop(url, current)
            if status in REDIRECT_STATUSES and "location" in response.headers:
                target = urljoin(current, response.headers["location"])
                response.close()
                check_redirect(url, current, target, hops, self.settings.max_redirects)
                hops.append(target)
                current = target
                continue
            # 206 answers a range request (pxeimport.resume).
            if status == 200 or (headers and "Range" in headers and status == 206):
                return response
            reason = response.reason
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            response.close()
            if status in (404, 410):
                raise NotFound(url, f"HTTP {status} (not found){at}", status=status)
            if status in RETRY_STATUSES:
                raise Transient(f"HTTP {status} {reason}{at}", status=status, retry_after=retry_after)
            raise FetchError(url, f"HTTP {status} {reason}{at}", status=status)

    def _request(
        self, url: str, current: str, session: requests.Session, headers: dict[str, str] | None = None
    ) -> requests.Response:
        proxy = self._source_proxy(url)
        proxies = {"http": proxy, "https": proxy} if proxy else None
        # After a redirect the hop that failed is named: it may be another host, or https.
        at = hop(url, current)
        try:
            return session.get(
                current, stream=True, timeout=self._timeout, allow_redirects=False, headers=headers, proxies=proxies
            )
        except requests.exceptions.SSLError as exc:
            # A certificate that does not verify will not verify on the next try either.
            raise FetchError(url, f"TLS failed: {root_cause(exc)}{at}") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(self._describe(exc) + at) from exc
        except requests.RequestException as exc:
            raise FetchError(url, self._describe(exc) + at) from exc

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    @contextlib.contextmanager
    def _response(self, url: str, headers: dict[str, str] | None = None) -> Iterator[requests.Response]:
        with self._connections, self._new_session() as session:
            response = self._open(url, session, headers)
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
            with self._count_lock:
                self._content_types[url] = response.headers.get("Content-Type", "")
        return bytes(body)

    def _download_once(
        self,
        url: str,
        dest: Path,
        expected_sha256: str,
        progress: Callable[[int, int | None], None] | None,
        partial: Partial | None,
    ) -> Downloaded:
        point = partial.point(url) if partial is not None else None
        if partial is not None and point is not None and point.size == point.total:
            done = partial.completed(dest, expected_sha256)  # a run killed between the last byte and the rename
            if done is not None:
                return Downloaded(dest, *done)
            point = None
        limit = self.settings.max_file_bytes
        with self._response(url, point.headers() if point is not None else None) as response:
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
                os.close(writer.fd)
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
