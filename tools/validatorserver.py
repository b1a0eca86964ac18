"""A loopback HTTP server whose validators cannot be trusted, recording each request's conditions.

Modes (issue 12 item 4):
- "mtime": Python's own http.server, unchanged: Last-Modified from the file's mtime and
  If-Modified-Since answered by it, so a new file with an older mtime (restored from a backup,
  `rsync --times` from an older master, clock skew) is "not modified".
- "liar": answers 304 to every conditional request, whatever changed; gives a constant ETag.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONDITIONS = ("If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range")


@dataclass(frozen=True)
class SeenRequest:
    path: str
    status: int
    bytes_sent: int
    # The conditional headers the request carried: {name: value}.
    conditions: dict[str, str]


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        self._conditions = {name: self.headers[name] for name in CONDITIONS if name in self.headers}
        if self.server.mode == "liar" and self._conditions:
            self.send_response(304)
            self.end_headers()
            return None
        return super().send_head()

    def end_headers(self) -> None:
        if self.server.mode == "liar":
            self.send_header("ETag", '"always-the-same"')
        super().end_headers()

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def copyfile(self, source: Any, outputfile: Any) -> None:
        super().copyfile(source, outputfile)
        self._sent = source.tell()

    def handle_one_request(self) -> None:
        self._status, self._sent, self._conditions = 0, 0, {}
        super().handle_one_request()
        if self._status:
            with self.server.lock:
                self.server.seen.append(SeenRequest(self.path, self._status, self._sent, self._conditions))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any, mode: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = mode
        self.seen: list[SeenRequest] = []
        self.lock = threading.Lock()


class ValidatorServer:
    """Serve `directory` on 127.0.0.1 with validators of `mode` ("mtime" or "liar"). `url` ends with "/"."""

    def __init__(self, directory: Path, mode: str) -> None:
        if mode not in ("mtime", "liar"):
            raise ValueError(f"unknown mode {mode!r}")
        handler = functools.partial(_Handler, directory=str(directory))
        self._server = _Server(("127.0.0.1", 0), handler, mode=mode)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def requests(self) -> list[SeenRequest]:
        with self._server.lock:
            return list(self._server.seen)

    def clear(self) -> None:
        with self._server.lock:
            self._server.seen.clear()

    def __enter__(self) -> ValidatorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
