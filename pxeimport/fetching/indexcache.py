"""The last copy of each child index (one a verified signed parent lists by hash), kept by URL.

The rule (issue 12 item 4): a cached copy is used only when it is exactly what the freshly
verified signed parent lists for it, byte for byte by SHA-256, and then without asking the server
anything. No server validator (ETag, Last-Modified, a 304 answer) is ever believed: an
If-Modified-Since answered by mtime (Python's http.server, Apache without ETags) says "not
modified" for a new file with an older mtime, and a cache used on such a word hides new versions
for ever. Roots (InRelease, Release + Release.gpg, a SHA256SUMS with its own .gpg) have no parent
to vouch for a copy: they are fetched whole every run (pxeimport.fetching.client.Fetcher.get_bytes).

One body per URL, in <tftproot>/maas/.cache/index/ (0700, never served), written atomically; a
new copy of a URL replaces the old, so the cache holds one file per index the selection reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from pxeimport.lib import write_atomic


class IndexCache:
    def __init__(self, directory: Path, *, writable: bool = True) -> None:
        self.directory = directory
        self.writable = writable
        # Copies used without a request this run (several threads read the cache).
        self.hits = 0
        self._lock = threading.Lock()

    def listed(self, url: str, sha256: str, fetch: Callable[[], bytes]) -> bytes:
        """The copy of `url` whose SHA-256 is `sha256`, else `fetch()`'s body (kept if it has that hash)."""
        body = self.get(url, sha256)
        if body is not None:
            with self._lock:
                self.hits += 1
            return body
        body = fetch()
        self.put(url, body, sha256)
        return body

    def _path(self, url: str) -> Path:
        return self.directory / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.body"

    def get(self, url: str, sha256: str) -> bytes | None:
        """The copy of `url` if its SHA-256 is `sha256` (hex, as the signed parent lists it); else None."""
        try:
            body = self._path(url).read_bytes()
        except OSError:
            return None
        return body if hashlib.sha256(body).hexdigest() == sha256.lower() else None

    def put(self, url: str, body: bytes, sha256: str) -> None:
        """Keep `body` as `url`'s copy if its SHA-256 is `sha256` (its parent's word); a write failure only loses it."""
        if not self.writable or hashlib.sha256(body).hexdigest() != sha256.lower():
            return
        with contextlib.suppress(OSError):
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self._path(url), body, 0o600)
            # The validators an older pxeimport kept beside each copy are never read again.
            self._path(url).with_suffix(".json").unlink(missing_ok=True)
