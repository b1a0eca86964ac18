"""HTTP for the importer: one session, timeouts, retries with backoff, streaming with hashing."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
ALLOWED_SCHEMES = ("http", "https")


class FetchError(Exception):
    """A URL could not be fetched, or its body was not what the index promised."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class NotFound(FetchError):
    """The server answered 404 or 410."""


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    max_file_bytes: int = 4 << 30
    max_index_bytes: int = 4 << 20
    user_agent: str = "pxeimport"


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


class Fetcher:
    """Fetches indexes as text and files to disk; counts the bytes it pulled."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self.bytes_downloaded = 0
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.settings.user_agent
        # The bytes on disk must be the bytes the index hashed: a server that labels initrd.gz
        # "Content-Encoding: gzip" must not get it decompressed on the way.
        self.session.headers["Accept-Encoding"] = "identity"
        self.session.max_redirects = 5
        retry = Retry(
            total=self.settings.retries,
            connect=self.settings.retries,
            read=self.settings.retries,
            status=self.settings.retries,
            backoff_factor=self.settings.backoff,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}),
            raise_on_status=False,
            respect_retry_after_header=True,
            # A server asking for hours would hold the TFTP root's lock that long.
            retry_after_max=60,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def _get(self, url: str) -> requests.Response:
        scheme = urlsplit(url).scheme
        if scheme not in ALLOWED_SCHEMES:
            raise FetchError(url, f"scheme {scheme!r} is not allowed (only http and https)")
        try:
            response = self.session.get(url, stream=True, timeout=self._timeout)
        except requests.RequestException as exc:
            raise FetchError(url, _describe(exc)) from exc
        if response.status_code in (404, 410):
            response.close()
            raise NotFound(url, f"HTTP {response.status_code} (not found)", status=response.status_code)
        if response.status_code >= 400:
            response.close()
            raise FetchError(url, f"HTTP {response.status_code} {response.reason}", status=response.status_code)
        return response

    def get_bytes(self, url: str) -> bytes:
        """The body of `url` (an index or signature); FetchError past the index size limit."""
        with self._get(url) as response:
            body = bytearray()
            try:
                for chunk in _raw_chunks(response):
                    body += chunk
                    if len(body) > self.settings.max_index_bytes:
                        raise FetchError(url, f"index larger than {self.settings.max_index_bytes} bytes")
            except BODY_ERRORS as exc:
                raise FetchError(url, _describe(exc)) from exc
            finally:
                self.bytes_downloaded += len(body)
        return bytes(body)

    def get_text(self, url: str) -> str:
        """The body of `url` as UTF-8 text."""
        try:
            return self.get_bytes(url).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FetchError(url, "index is not UTF-8 text") from exc

    def download(self, url: str, dest: Path, expected_sha256: str) -> Downloaded:
        """Stream `url` into `dest` (created 0644), hashing as it goes; verify against the index.

        Body errors (reset, truncation) are retried with backoff; a hash mismatch is not, since
        the server would hand out the same bytes. On any failure `dest` is removed.
        """
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._download_once(url, dest, expected_sha256)
            except _BodyError as exc:
                dest.unlink(missing_ok=True)
                if attempt == attempts:
                    raise FetchError(url, f"{exc.reason} (after {attempts} attempts)") from exc
                delay = self.settings.backoff * (2 ** (attempt - 1))
                log.warning("retrying %s in %.1fs: %s", url, delay, exc.reason)
                time.sleep(delay)
            except BaseException:
                dest.unlink(missing_ok=True)
                raise
        raise AssertionError("unreachable")

    def _download_once(self, url: str, dest: Path, expected_sha256: str) -> Downloaded:
        digest = hashlib.sha256()
        size = 0
        limit = self.settings.max_file_bytes
        with self._get(url) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise FetchError(url, f"Content-Length {declared} exceeds the limit of {limit} bytes")
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o644)
                try:
                    for chunk in _raw_chunks(response):
                        size += len(chunk)
                        self.bytes_downloaded += len(chunk)
                        if size > limit:
                            raise FetchError(url, f"body exceeds the limit of {limit} bytes")
                        digest.update(chunk)
                        out.write(chunk)
                except BODY_ERRORS as exc:
                    raise _BodyError(_describe(exc)) from exc
                _sync(out)
        if declared is not None and declared.isdigit() and size != int(declared):
            raise _BodyError(f"body has {size} bytes, Content-Length said {declared}")
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise FetchError(url, f"SHA-256 mismatch: index says {expected_sha256}, got {actual}")
        return Downloaded(path=dest, size=size, sha256=actual)


BODY_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def _raw_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body exactly as sent, whatever Content-Encoding says (no transparent decompression)."""
    yield from response.raw.stream(CHUNK_SIZE, decode_content=False)


class _BodyError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def _describe(exc: BaseException) -> str:
    """A short, human reason for a requests exception (its repr nests several layers)."""
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return f"connection broken: {exc.args[0] if exc.args else exc}"
    if isinstance(exc, requests.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return "redirected to a scheme that is not http or https"
    if isinstance(exc, requests.ConnectionError):
        inner = exc.args[0] if exc.args else exc
        reason = getattr(inner, "reason", inner)
        return f"connection failed: {reason}"
    return f"{type(exc).__name__}: {exc}"
