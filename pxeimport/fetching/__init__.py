"""HTTP for the importer: one session, a connection budget per host, redirects checked hop by hop, the one retry
policy (retry.py: which answers are tried again, how often, how long between), streaming with hashing, resuming
a cut-off download, big files in Range segments, and the cache of child indexes a verified parent names.

Imports: lib, requests, urllib3. Django: never. Its face: Fetcher and FetchSettings; FetchError and its kinds.
"""

from __future__ import annotations

from pxeimport.fetching.client import Downloaded, Fetcher, FetchSettings
from pxeimport.fetching.errors import FetchError, NoSpace, NotFound
from pxeimport.fetching.indexcache import IndexCache
from pxeimport.fetching.resume import remove_stale
from pxeimport.fetching.retry import RETRY_STATUSES, Transient, attempts

__all__ = [
    "RETRY_STATUSES",
    "Downloaded",
    "FetchError",
    "FetchSettings",
    "Fetcher",
    "IndexCache",
    "NoSpace",
    "NotFound",
    "Transient",
    "attempts",
    "remove_stale",
]
