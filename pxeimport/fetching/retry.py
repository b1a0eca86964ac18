"""The retry policy, whole: which failures are tried again, how often, and how long between tries.

Tried again (raised as `Transient` where they are met):
- an answer in RETRY_STATUSES: 429 and the 5xx a busy or restarting server gives (fetching.hops);
- no connection, a connect or read timeout (fetching.hops);
- a body that broke off, or is longer or shorter than its Content-Length (fetching.client, fetching.segments);
- a 206 whose Content-Range is not the range asked for: the partial copy is discarded (fetching.resume).
Never tried again (a FetchError at once): 404 and 410 (NotFound), any other status, a TLS failure (a
certificate that does not verify now will not on the next try), a refused scheme or redirect, a full disk
(NoSpace), and a body whose SHA-256 is not the index's.

A Transient failure is tried again after `backoff` seconds, doubled each time, or longer when the server
asks with Retry-After (delta-seconds or an HTTP date, RFC 9110 section 10.2.3), up to `retry_after_max`;
after `retries` retries it becomes a FetchError saying how many attempts were made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pxeimport.fetching.errors import FetchError

log = logging.getLogger("pxeimport.fetching.client")

_T = TypeVar("_T")

# Answers a later try may not get: rate limiting and server trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class Transient(Exception):
    """A failure that another attempt may not meet (the fetcher retries it, then raises FetchError)."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def attempts(
    url: str,
    attempt: Callable[[], _T],
    *,
    retries: int,
    backoff: float,
    retry_after_max: float,
    before_retry: Callable[[], None] | None = None,
) -> _T:
    """`attempt()`'s result, from the first attempt that does not raise Transient."""
    total = retries + 1
    for number in range(1, total + 1):
        try:
            return attempt()
        except Transient as exc:
            if number == total:
                tries = f" (after {total} attempts)" if total > 1 else ""
                raise FetchError(url, exc.reason + tries, status=exc.status) from exc
            delay = backoff * 2.0 ** (number - 1)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, retry_after_max))
            log.info("%s: %s; attempt %d of %d in %.2f s", url, exc.reason, number + 1, total, delay)
            if before_retry is not None:
                before_retry()
            time.sleep(delay)
    raise AssertionError("unreachable")
