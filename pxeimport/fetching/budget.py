"""Connections per host: one budget shared by index fetches, whole-file downloads and a big file's segments.

Each host (scheme, host name and port of the URL asked for, before any redirect) may have at most
`limit` requests in flight from one fetcher. A request for an index or a whole file waits for a
connection; an extra segment of a file already downloading takes only a *spare* one: free while no
request waits. A segment also gives its connection back, at the end of its current request
(16 MiB at most), when a request starts waiting (`wanted`): splitting a big file delays another
file or an index at most that long, and the budget goes to segments only when fewer files than
connections remain.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


class Budget:
    """At most `limit` connections at once to one host; `most` is the most ever in use (for tests)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a host needs at least one connection, not {limit}")
        self.limit = limit
        self.most = 0
        self._in_use = 0
        self._waiting = 0
        self._changed = threading.Condition()

    def acquire(self) -> None:
        """Wait for a connection (before any spare is handed out again)."""
        with self._changed:
            self._waiting += 1
            try:
                while self._in_use >= self.limit:
                    self._changed.wait()
            finally:
                self._waiting -= 1
            self._take()

    def try_spare(self) -> bool:
        """Take a connection only if one is free and no request waits for one; True if taken."""
        with self._changed:
            if self._waiting or self._in_use >= self.limit:
                return False
            self._take()
            return True

    def release(self) -> None:
        with self._changed:
            self._in_use -= 1
            self._changed.notify()

    @property
    def wanted(self) -> bool:
        """A request is waiting for a connection: spares should be given back."""
        with self._changed:
            return self._waiting > 0

    @contextlib.contextmanager
    def connection(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def _take(self) -> None:
        self._in_use += 1
        self.most = max(self.most, self._in_use)


class HostBudgets:
    """One Budget of `limit` connections per host, made on first use."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._budgets: dict[tuple[str, str, int | None], Budget] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> Budget:
        """The budget of `url`'s host."""
        parts = urlsplit(url)
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:  # a port out of range: the request itself will say so
            port = None
        key = (parts.scheme, (parts.hostname or "").lower(), port)
        with self._lock:
            if key not in self._budgets:
                self._budgets[key] = Budget(self.limit)
            return self._budgets[key]
