"""One GET, its redirects followed hop by hop so each is checked, and its answer judged.

Only http and https, never from https down to plain http, at most `max_redirects` hops
(pxeimport.fetching.errors.check_redirect). The answer is returned to be read when it is a 200, or
asked for a range a 206 (pxeimport.fetching.resume, pxeimport.fetching.segments);
any other is an error: NotFound (404, 410), Transient (429, 5xx: another try may not meet it), or
FetchError. A failure names the hop that failed after a redirect: it may be another host.
"""

from __future__ import annotations

from urllib.parse import urljoin

import requests

from pxeimport.fetching.errors import (
    FetchError,
    NotFound,
    check_redirect,
    check_scheme,
    describe,
    hop,
    root_cause,
)
from pxeimport.fetching.retry import RETRY_STATUSES, Transient, retry_after_seconds

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def get(
    url: str,
    session: requests.Session,
    headers: dict[str, str] | None,
    proxy: str | None,
    timeout: tuple[float, float],
    max_redirects: int,
) -> requests.Response:
    """One GET of `url` (streamed) through `proxy` if given, with (connect, read) `timeout` seconds."""
    check_scheme(url, url)
    current = url
    hops = [url]
    while True:
        response = _request(url, current, session, headers, proxy, timeout)
        status = response.status_code
        at = hop(url, current)
        if status in REDIRECT_STATUSES and "location" in response.headers:
            target = urljoin(current, response.headers["location"])
            response.close()
            check_redirect(url, current, target, hops, max_redirects)
            hops.append(target)
            current = target
            continue
        # 206 answers a range request. A 304 is an error: nothing is ever asked conditionally
        # (pxeimport.fetching.indexcache: no server's validator is believed).
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
    url: str,
    current: str,
    session: requests.Session,
    headers: dict[str, str] | None,
    proxy: str | None,
    timeout: tuple[float, float],
) -> requests.Response:
    proxies = {"http": proxy, "https": proxy} if proxy else None
    # After a redirect the hop that failed is named: it may be another host, or https.
    at = hop(url, current)
    try:
        return session.get(
            current, stream=True, timeout=timeout, allow_redirects=False, headers=headers, proxies=proxies
        )
    except requests.exceptions.SSLError as exc:
        # A certificate that does not verify will not verify on the next try either.
        raise FetchError(url, f"TLS failed: {root_cause(exc)}{at}") from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Transient(describe(exc, *timeout) + at) from exc
    except requests.RequestException as exc:
        raise FetchError(url, describe(exc, *timeout) + at) from exc
