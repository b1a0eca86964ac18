"""Attempts at one URL: retried with exponential backoff while the failure is one another try may not meet.

A `Transient` failure (pxeimport.fetching.errors: network trouble, 429, 5xx, a body that broke off) is
tried again after `backoff` seconds, doubled each time, or longer when the server asks with
Retry-After (up to `retry_after_max`); after `retries` retries it becomes a FetchError saying how
many attempts were made. Any other error ends the attempts at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from pxeimport.fetching.errors import FetchError, Transient

log = logging.getLogger("pxeimport.fetching.client")

_T = TypeVar("_T")


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
