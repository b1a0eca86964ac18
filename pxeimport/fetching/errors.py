"""What went wrong with an HTTP fetch, said so a person can act on it.

The exceptions the fetcher raises (FetchError and its kinds) and the small judgements behind them: the
root cause requests and urllib3 wrapped, a Content-Length, the free space for a file, a disk error while
saving, and whether a redirect may be followed. Which failures are tried again is fetching.retry's.
"""

from __future__ import annotations

import errno
import http.client
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from pxeimport.lib import free_bytes

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


class NoSpace(FetchError):
    """The file does not fit on the disk: refused before downloading, or the disk filled up."""


def describe(exc: BaseException, connect_timeout: float, read_timeout: float) -> str:
    """A short, human reason for a requests or urllib3 exception (their reprs nest several layers)."""
    cause = root_cause(exc)
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        # Checked first: urllib3 makes it a subclass of its connect-timeout error.
        return f"connection failed: {cause.__cause__ or cause}"
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError) or isinstance(
        cause, urllib3.exceptions.TimeoutError | TimeoutError
    ):
        what = "connecting" if isinstance(exc, requests.ConnectTimeout) else "no data"
        limit = connect_timeout if what == "connecting" else read_timeout
        return f"timed out ({what} for {limit:g} s)"
    if isinstance(cause, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(cause, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
        return f"connection closed early: {cause}"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return f"connection broken: {cause}"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed: {cause}"
    return f"{type(exc).__name__}: {exc}"


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception requests and urllib3 wrapped (MaxRetryError.reason, args[...])."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        exc = inner
    return exc


def check_scheme(url: str, target: str) -> None:
    scheme = urlsplit(target).scheme
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(url, f"scheme {scheme!r} is not allowed (only http and https)")


def content_length(response: requests.Response) -> int | None:
    declared = response.headers.get("Content-Length")
    return int(declared) if declared is not None and declared.isdigit() else None


def check_space(url: str, directory: Path, needed: int) -> None:
    """NoSpace when `needed` bytes do not fit in `directory`'s filesystem now."""
    free = free_bytes(directory)
    if free is not None and needed > free:
        raise NoSpace(url, f"not enough space in {directory}: the file is {needed} bytes, {free} bytes are free")


def write_error(url: str, dest: Path, exc: OSError, written: int) -> FetchError:
    """A disk error while saving `url` (never retried: the next try would meet the same disk)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(url, f"not enough space in {dest.parent}: the disk filled after {written} bytes")
    return FetchError(url, f"cannot write {dest}: {exc.strerror or exc}")


def check_redirect(url: str, current: str, target: str, hops: list[str], max_redirects: int) -> None:
    """FetchError unless following `current` -> `target` is allowed: http(s) only, never from https
    down to http, no loop, at most `max_redirects` hops (`hops`: the URLs asked so far, `url` first)."""
    scheme = urlsplit(target).scheme
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(url, f"redirected to a scheme that is not http or https: {target}")
    if urlsplit(current).scheme == "https" and scheme == "http":
        raise FetchError(url, f"redirected from https down to plain http ({target}); refusing the downgrade")
    if target in hops:
        raise FetchError(url, "too many redirects: a redirect loop, " + " -> ".join([*hops, target]))
    if len(hops) > max_redirects:
        raise FetchError(url, f"too many redirects (more than {max_redirects}), last to {target}")


def hop(url: str, current: str) -> str:
    """The text " (at the redirect target <hop>)" when redirects led away from `url`; "" at `url` itself.

    Messages start with `url` (FetchError), so both the URL asked for and the hop that failed are named.
    """
    return f" (at the redirect target {current})" if current != url else ""
