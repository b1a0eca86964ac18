"""A real HTTP server on loopback serving a directory, recording requests, optionally throttled."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COPY_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    path: str
    status: int
    bytes_sent: int
    method: str = "GET"


class _Handler(SimpleHTTPRequestHandler):
    server: _Server
    _counted = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        """Answer If-None-Match with 304 by a strong ETag (size and mtime in nanoseconds), as nginx
        does by the second; If-Modified-Since is ignored, its one-second granularity would make
        two versions published within a second look alike."""
        path = self.translate_path(self.path)
        self._etag = None
        if os.path.isfile(path):
            st = os.stat(path)
            self._etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            if self.headers.get("If-None-Match") == self._etag:
                self.send_response(304)
                self.end_headers()
                return None
        del self.headers["If-Modified-Since"]
        return super().send_head()

    def end_headers(self) -> None:
        if getattr(self, "_etag", None):
            self.send_header("ETag", self._etag or "")
        super().end_headers()

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def _answered(self) -> None:
        """This request no longer counts as being answered (once; see `max_concurrent`)."""
        if self._counted:
            self._counted = False
            with self.server.lock:
                self.server.active -= 1

    def copyfile(self, source: Any, outputfile: Any) -> None:
        rate = self.server.rate_bytes_per_second
        sent = 0
        remaining = os.fstat(source.fileno()).st_size - source.tell()
        try:
            chunk = max(1024, rate // 20) if rate else COPY_CHUNK
            started = time.monotonic()
            while block := source.read(chunk):
                remaining -= len(block)
                if remaining <= 0:
                    self._answered()  # the last write: see max_concurrent
                outputfile.write(block)
                sent += len(block)
                ahead = sent / rate - (time.monotonic() - started) if rate else 0
                if ahead > 0:
                    time.sleep(ahead)
        finally:
            self._sent = sent

    def handle_one_request(self) -> None:
        self._status = 0
        self._sent = 0
        self._counted = True
        with self.server.lock:
            self.server.active += 1
            self.server.max_active = max(self.server.max_active, self.server.active)
        try:
            super().handle_one_request()
        finally:
            self._answered()
        if self._status:
            with self.server.lock:
                self.server.requests.append(Request(self.path, self._status, self._sent, self.command or ""))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    rate_bytes_per_second = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        # Requests being served now, and the most at once: proof that downloads overlap.
        self.active = 0
        self.max_active = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a killed importer) is routine here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ArchiveServer:
    """Serve `directory` on `host` (127.0.0.1) on a free port until closed. `url` ends with "/"."""

    def __init__(self, directory: Path, rate_bytes_per_second: int = 0, host: str = "127.0.0.1") -> None:
        handler = functools.partial(_Handler, directory=str(directory))
        self._server = _Server((host, 0), handler)
        self._server.rate_bytes_per_second = rate_bytes_per_second
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="archive-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def requests(self) -> list[Request]:
        with self._server.lock:
            return list(self._server.requests)

    def clear_requests(self) -> None:
        with self._server.lock:
            self._server.requests.clear()
            self._server.max_active = 0

    @property
    def max_concurrent(self) -> int:
        """The most requests served at once since the start or the last clear_requests(): a request counts
        from its arrival until its last body write begins (after it, a client may already have read the
        whole answer, released its connection and asked again while this handler's thread waits to run)."""
        with self._server.lock:
            return self._server.max_active

    def set_rate(self, rate_bytes_per_second: int) -> None:
        self._server.rate_bytes_per_second = rate_bytes_per_second

    def start(self) -> ArchiveServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ArchiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_forever(directory: Path, port: int = 0) -> None:
    """Serve until interrupted (for `make demo` and manual tries)."""
    handler = functools.partial(_Handler, directory=str(directory))
    with _Server(("127.0.0.1", port), handler) as server:
        server.serve_forever()
