"""SHA-256 of large files, hashed once: remembered by path with the size, mtime and inode they had.

The region publishes the ISOs of its HTTP root in its index with their SHA-256; hashing a 3 GB
image after every import would cost seconds of disk and CPU for nothing, so the digest is kept in a
small JSON file and reused while the file's (size, st_mtime_ns, st_ino) are what they were. A file
replaced or touched in any way is hashed again. No Django here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pxeimport.lib.files import sha256_file, write_atomic


class HashCache:
    """Digests of files, stored in `store` (JSON: {path: [size, mtime_ns, inode, sha256]})."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._entries = self._load()
        self._changed = False

    def _load(self) -> dict[str, list[object]]:
        try:
            raw = json.loads(self.store.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(v, list) and len(v) == 4}

    def sha256(self, path: Path) -> tuple[str, int]:
        """(SHA-256 hex, size in bytes) of `path`, from the cache when the file is unchanged. OSError as stat/open."""
        st = os.stat(path)
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        cached = self._entries.get(str(path))
        if cached is not None and cached[:3] == key and isinstance(cached[3], str):
            return cached[3], st.st_size
        digest = sha256_file(path)
        self._entries[str(path)] = [*key, digest]
        self._changed = True
        return digest, st.st_size

    def save(self, keep: Iterable[Path]) -> None:
        """Write the cache, holding only the entries of `keep` (the files still published)."""
        kept = {str(p) for p in keep}
        entries = {k: v for k, v in self._entries.items() if k in kept}
        if entries != self._entries or self._changed:
            write_atomic(self.store, json.dumps(entries, indent=1, sort_keys=True).encode())
            self._entries, self._changed = entries, False
