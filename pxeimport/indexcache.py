"""The last copy of each index (InRelease, SHA256SUMS, signatures) with its validators, for conditional GETs.

A no-op run asks "changed since?" (If-None-Match / If-Modified-Since) and, on 304, uses the copy
here. The copy is trusted no more than a fresh download: signatures and hashes are checked on it
every run. It lives in <tftproot>/maas/.cache/ (0700, never served) and is written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pxeimport.files import write_atomic


@dataclass(frozen=True)
class Cached:
    body: bytes
    etag: str | None
    last_modified: str | None

    def conditions(self) -> dict[str, str]:
        """The request headers asking the server whether this copy is still current."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class IndexCache:
    def __init__(self, directory: Path, *, writable: bool = True) -> None:
        self.directory = directory
        self.writable = writable

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode()).hexdigest()[:32]
        return self.directory / f"{key}.body", self.directory / f"{key}.json"

    def get(self, url: str) -> Cached | None:
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text())
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url:
            return None
        if meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None  # a torn or altered copy: fetch it whole again
        etag, modified = meta.get("etag"), meta.get("last_modified")
        if not (isinstance(etag, str) or isinstance(modified, str)):
            return None
        return Cached(body, etag if isinstance(etag, str) else None, modified if isinstance(modified, str) else None)

    def put(self, url: str, body: bytes, etag: str | None, last_modified: str | None) -> None:
        """Keep `body` for `url` when the server gave a validator; a write failure only loses the cache."""
        if not self.writable or not (etag or last_modified):
            return
        body_path, meta_path = self._paths(url)
        meta = {"url": url, "etag": etag, "last_modified": last_modified, "sha256": hashlib.sha256(body).hexdigest()}
        with contextlib.suppress(OSError):
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(body_path, body, 0o600, sync_dir=False)
            write_atomic(meta_path, json.dumps(meta).encode(), 0o600)
