"""A loopback HTTP(S) server that serves an archive directory and misbehaves on request, per path.

Faults are rules matched against the request path (a suffix, or an fnmatch glob such as
`*/bookworm/*/linux`); the first matching rule with uses left applies, so "fail twice, then serve"
is `server.fail("linux", 500, times=2)`. Every request is recorded with the fault it met, so a
test can count attempts and measure the backoff between them.

    with FaultServer(archive.root) as server:
        server.reset("*/linux", after=1000)            # RST after 1000 bytes of the body
        server.stall("SHA256SUMS", seconds=5)           # no answer for 5 s (past the client timeout)
        server.redirect("InRelease", "ftp://x/y")       # a redirect to another scheme
        ...
        server.count("*/linux")                         # how many requests reached it

With `tls=(certfile, keyfile)` it speaks HTTPS (see `make_self_signed_cert`). With `ranges=True` it
answers as nginx does for static files: a strong ETag (size and mtime), Last-Modified and
`Accept-Ranges: bytes` on every 200 and 206, `Range: bytes=N-` or `bytes=N-M` honoured (206) unless
`If-Range` names another validator (then 200, whole). With `rate` (bytes per second) every response
body is sent no faster than that, per connection, as a mirror's per-connection limit does; files
served normally are streamed from disk (memory does not grow with their size). `max_concurrent`
is the most requests being answered at once: a request counts from its arrival until its last
body write begins. Counting it until that write returned would let a client that has read the
whole answer, released its connection and asked again be seen one over its budget while this
handler's thread waits to run (seen on a loaded 2-core machine).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import html
import http.client
import itertools
import os
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024
# What a fault does with the request, given the file the path names (None when there is none).
Action = Callable[["_Handler", bytes | None], None]


@dataclass
class Request:
    """One request as the server saw it. `fault` is the rule's kind, "" when served normally.

    `status` is 0 while the request is still being answered (or when no status line was sent).
    """

    path: str
    status: int
    bytes_sent: int
    started: float  # time.monotonic()
    fault: str
    client_port: int
    method: str = "GET"
    range: str = ""  # the Range header asked, "" for none


@dataclass
class Rule:
    pattern: str
    kind: str
    action: Action
    remaining: int | None  # None: every time
    ranged: bool = False  # only requests that carry a Range header

    def matches(self, path: str, range_asked: str = "") -> bool:
        if self.remaining == 0 or (self.ranged and not range_asked):
            return False
        if any(c in self.pattern for c in "*?["):
            return fnmatch.fnmatchcase(path, self.pattern)
        return path.endswith(self.pattern)


@dataclass
class _State:
    rules: list[Rule] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    max_active: int = 0
    closing: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class _Handler(SimpleHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real mirrors do

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._status = 0
        self._sent = 0
        self._length = -1
        self._counted = True
        state = self.server.state
        with state.lock:
            rule = next((r for r in state.rules if r.matches(self.path, self.headers.get("Range", ""))), None)
            if rule is not None and rule.remaining is not None:
                rule.remaining -= 1
            # Recorded on arrival (a stalled request counts at once), completed when answered.
            record = Request(self.path, 0, 0, time.monotonic(), rule.kind if rule else "", self.client_address[1])
            record.range = self.headers.get("Range", "")
            state.requests.append(record)
            state.active += 1
            state.max_active = max(state.max_active, state.active)
        try:
            if rule is None:
                path = Path(self.translate_path(self.path))
                if path.is_dir() and self.path.endswith("/"):
                    self._answer(200, _index_page(path), {"Content-Type": "text/html; charset=utf-8"})
                elif not path.is_file():
                    self._answer(404, b"not found\n")
                else:
                    self._serve(path)
            else:
                rule.action(self, self._file())
        finally:
            self._answered()
            with state.lock:
                record.status, record.bytes_sent = self._status, self._sent

    def _answered(self) -> None:
        """This request no longer counts as being answered (once; see `max_concurrent`)."""
        if self._counted:
            self._counted = False
            with self.server.state.lock:
                self.server.state.active -= 1

    def _write(self, data: bytes) -> None:
        """Write part of the body; the part that completes the Content-Length ends the request's count."""
        if self._length >= 0 and self._sent + len(data) >= self._length:
            self._answered()
        self.wfile.write(data)
        self.wfile.flush()
        self._sent += len(data)

    def do_HEAD(self) -> None:
        """The headers a GET would get when served normally (faults apply to GET only)."""
        self._status = 0
        self._sent = 0
        body = self._file()
        status = 404 if body is None else 200
        with self.server.state.lock:
            self.server.state.requests.append(
                Request(self.path, status, 0, time.monotonic(), "", self.client_address[1], "HEAD")
            )
        self._head(status, {"Content-Length": str(len(body or b""))})

    # Building blocks for the faults -------------------------------------------------------------

    def _file(self) -> bytes | None:
        """The file the path names below the served directory (following links, like a mirror)."""
        path = Path(self.translate_path(self.path))
        return path.read_bytes() if path.is_file() else None

    def _validators(self) -> dict[str, str]:
        """ETag (size and mtime in ns, strong, as nginx makes it) and Last-Modified of the file, when
        the server does ranges and the path names a file."""
        path = Path(self.translate_path(self.path))
        if not self.server.ranges or not path.is_file():
            return {}
        st = path.stat()
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        return {"ETag": etag, "Last-Modified": formatdate(st.st_mtime, usegmt=True), "Accept-Ranges": "bytes"}

    def _serve(self, path: Path) -> None:
        """200 and the file; with ranges on, 206 and the part a `Range: bytes=N-` or `bytes=N-M` asks
        (RFC 9110 14.2), unless `If-Range` names another validator than the file's (13.1.5); 416 past
        the end. The body is streamed from the file."""
        validators = self._validators()
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if not validators or asked is None or (if_range is not None and if_range not in validators.values()):
                self._stream(200, f, size)
                return
            start, end = int(asked[1]), min(int(asked[2] or size - 1), size - 1)
            if start >= size or end < start:
                self._answer(416, b"", {"Content-Range": f"bytes */{size}"})
                return
            f.seek(start)
            self._stream(206, f, end - start + 1, {"Content-Range": f"bytes {start}-{end}/{size}"})

    def _stream(self, status: int, source: Any, length: int, headers: dict[str, str] | None = None) -> None:
        self._head(
            status, {"Content-Type": "application/octet-stream", "Content-Length": str(length), **(headers or {})}
        )
        while length > 0 and (block := source.read(min(CHUNK, length))):
            self._send(block)
            length -= len(block)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self._status = status
        self.send_response(status)  # with Server and Date
        if status in (200, 206):
            headers = {**self._validators(), **headers}
        self._length = int(headers.get("Content-Length", -1))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def _send(self, data: bytes) -> None:
        rate = self.server.rate
        if not rate:
            self._write(data)
            return
        if not self._sent:
            self._began = time.monotonic()
        step = max(1024, rate // 20)
        for start in range(0, len(data), step):
            # Paced before each write, not after: the request ends with its last byte sent.
            ahead = self._sent / rate - (time.monotonic() - self._began)
            if ahead > 0:
                self._pace(ahead)
            self._write(data[start : start + step])

    def _pace(self, seconds: float) -> None:
        """Wait between rate-limited writes, but notice at once a client that hung up (as nginx's
        event loop does): ConnectionResetError then, so the request ends when the client's does."""
        readable, _, _ = select.select([self.connection], [], [], seconds)
        if not readable:
            return
        try:
            if self.connection.recv(1, socket.MSG_PEEK) == b"":
                raise ConnectionResetError("the client closed the connection")
        except BlockingIOError:
            pass
        self._wait(max(0.0, seconds))

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._head(
            status, {"Content-Type": "application/octet-stream", "Content-Length": str(len(body)), **(headers or {})}
        )
        self._send(body)

    def _wait(self, seconds: float) -> None:
        """Sleep, but end early when the server closes (so a stalled test does not hang teardown)."""
        self.server.state.closing.wait(seconds)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), as a crashing middlebox would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _hang_up(self) -> None:
        """Close the connection cleanly (FIN) whatever was promised."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    ranges = False
    rate = 0  # bytes per second per response body; 0: as fast as it goes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = _State()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, size limit, a killed importer) is the point of this server.
        if not isinstance(sys.exc_info()[1], OSError | ssl.SSLError):
            super().handle_error(request, client_address)


def _index_page(directory: Path) -> bytes:
    """A directory's index page in the shape of nginx's autoindex: a link up, then one per entry (a
    directory's with a trailing slash)."""
    links = ['<a href="../">../</a>']
    for entry in sorted(directory.iterdir()):
        name = html.escape(entry.name + ("/" if entry.is_dir() else ""))
        links.append(f'<a href="{urllib.parse.quote(entry.name)}{"/" if entry.is_dir() else ""}">{name}</a>')
    body = "\n".join(links)
    return f"<html><head><title>Index of /</title></head><body><pre>{body}</pre></body></html>\n".encode()


class FaultServer:
    """Serve `directory` on 127.0.0.1 (a free port) with the faults it is told to inject."""

    def __init__(
        self, directory: Path, *, tls: tuple[Path, Path] | None = None, ranges: bool = False, rate: int = 0
    ) -> None:
        handler = functools.partial(_Handler, directory=str(directory))
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.ranges = ranges
        self._server.rate = rate
        self._tls = tls is not None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
        )

    # Life cycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}/"

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # What happened ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._server.state.lock:
            return [dataclasses.replace(r) for r in self._server.state.requests]

    def matching(self, pattern: str) -> list[Request]:
        probe = Rule(pattern, "", lambda h, b: None, None)
        return [r for r in self.requests if probe.matches(r.path)]

    @property
    def max_concurrent(self) -> int:
        """The most GET requests being answered at once since the start or the last clear()."""
        with self._server.state.lock:
            return self._server.state.max_active

    def count(self, pattern: str) -> int:
        """How many requests for paths matching `pattern` (a suffix or a glob) arrived."""
        return len(self.matching(pattern))

    def gaps(self, pattern: str) -> list[float]:
        """Seconds between consecutive requests for `pattern`: the client's backoff, as seen here."""
        times = [r.started for r in self.matching(pattern)]
        return [b - a for a, b in itertools.pairwise(times)]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30.0) -> bool:
        """Wait until `count` requests for `pattern` have arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count(pattern) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def clear(self) -> None:
        """Forget the recorded requests and drop every fault."""
        with self._server.state.lock:
            self._server.state.requests.clear()
            self._server.state.rules.clear()
            self._server.state.max_active = self._server.state.active

    # Faults ----------------------------------------------------------------------------------

    def _add(
        self,
        pattern: str,
        kind: str,
        action: Callable[[_Handler, bytes | None], None],
        times: int | None,
        *,
        ranged: bool = False,
    ) -> None:
        with self._server.state.lock:
            self._server.state.rules.append(Rule(pattern, kind, action, times, ranged))

    def fail(
        self, pattern: str, status: int = 500, *, times: int | None = None, retry_after: str | None = None
    ) -> None:
        """Answer `status` (404, 500, 503 ...) with a short body; with `times`, then serve normally."""

        def action(h: _Handler, body: bytes | None) -> None:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            h._answer(status, f"{status} {http.client.responses.get(status, '')}\n".encode(), headers)

        self._add(pattern, f"status {status}", action, times)

    def reset(self, pattern: str, *, after: int = 0, times: int | None = None) -> None:
        """Send the headers and `after` bytes of the body, then reset the connection."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            h._head(200, {"Content-Length": str(len(data))})
            h._send(data[:after])
            h._wait(0.05)  # let the bytes leave before the RST
            h._reset()

        self._add(pattern, "reset", action, times)

    def stall(self, pattern: str, *, seconds: float, after: int | None = None, times: int | None = None) -> None:
        """Go silent for `seconds`: before any answer (`after` None) or after `after` body bytes."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            if after is not None:
                h._head(200, {"Content-Length": str(len(data))})
                h._send(data[:after])
            h._wait(seconds)
            h._hang_up()

        self._add(pattern, "stall", action, times)

    def cut_range(self, pattern: str, *, after: int, times: int | None = None) -> None:
        """Answer a request that carries `Range: bytes=N-[M]` with its 206, then reset the connection
        after `after` body bytes; requests without Range are served normally."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            asked = re.fullmatch(r"bytes=(\d+)-(\d*)", h.headers.get("Range", ""))
            assert asked is not None, f"not a range this server knows: {h.headers.get('Range')!r}"
            start, end = int(asked[1]), min(int(asked[2] or len(data) - 1), len(data) - 1)
            ranges = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
            h._head(206, {"Content-Length": str(end - start + 1), **ranges})
            h._send(data[start : start + after])
            h._wait(0.05)  # let the bytes leave before the RST
            h._reset()

        self._add(pattern, "cut range", action, times, ranged=True)

    def truncate(self, pattern: str, *, keep: int, times: int | None = None) -> None:
        """Promise the whole file in Content-Length, send `keep` bytes, then close cleanly."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            h._head(200, {"Content-Length": str(len(data))})
            h._send(data[:keep])
            h._hang_up()

        self._add(pattern, "truncate", action, times)

    def surplus(self, pattern: str, extra: bytes, *, delay: float = 0.0, times: int | None = None) -> None:
        """Send the file, then `extra` bytes past its Content-Length (after `delay`), and keep the
        connection open: a client that reuses it would read `extra` as the next response."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            h._answer(200, data)
            h._wait(delay)
            h._send(extra)

        self._add(pattern, "surplus", action, times)

    def whole(self, pattern: str, *, times: int | None = None) -> None:
        """Serve the whole file with 200 whatever Range asks: a server that does not do ranges."""

        def action(h: _Handler, body: bytes | None) -> None:
            h._answer(200, _need(body, h.path))

        self._add(pattern, "whole", action, times)

    def corrupt(self, pattern: str, *, times: int | None = None) -> None:
        """Serve the file with its bytes changed (same length): the hash cannot match."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            h._answer(200, bytes(b ^ 0x5A for b in data) or b"x")

        self._add(pattern, "corrupt", action, times)

    def huge(self, pattern: str, *, size: int, content_length: bool = True, times: int | None = None) -> None:
        """Stream `size` bytes (or until the client hangs up), declaring the size or not."""

        def action(h: _Handler, body: bytes | None) -> None:
            headers = {"Content-Length": str(size)} if content_length else {"Connection": "close"}
            h._head(200, headers)
            block = b"\0" * CHUNK
            while h._sent < size and not h.server.state.closing.is_set():
                h._send(block[: min(CHUNK, size - h._sent)])
            h._hang_up()

        self._add(pattern, "huge", action, times)

    def without_length(self, pattern: str, *, times: int | None = None) -> None:
        """Serve the file with no Content-Length, ending the body by closing the connection."""

        def action(h: _Handler, body: bytes | None) -> None:
            data = _need(body, h.path)
            h._head(200, {"Connection": "close"})
            for start in range(0, len(data), CHUNK):
                h._send(data[start : start + CHUNK])
            h._hang_up()

        self._add(pattern, "no length", action, times)

    def hold(self, pattern: str, *, times: int | None = None) -> None:
        """Keep matching requests waiting, unanswered, until `release()`; then serve them normally."""
        self._server.state.released.clear()

        def action(h: _Handler, body: bytes | None) -> None:
            state = h.server.state
            while not state.released.wait(0.05) and not state.closing.is_set():
                pass
            if body is None:
                h._answer(404, b"not found\n")
            else:
                h._answer(200, body)

        self._add(pattern, "hold", action, times)

    def release(self) -> None:
        """Let every held request (and any later one) through."""
        self._server.state.released.set()

    def page(self, pattern: str, body: bytes, content_type: str = "text/html", *, times: int | None = None) -> None:
        """Answer 200 with `body` as `content_type` instead of the file (a captive portal's login page)."""

        def action(h: _Handler, _body: bytes | None) -> None:
            h._answer(200, body, {"Content-Type": content_type})

        self._add(pattern, "page", action, times)

    def redirect(self, pattern: str, location: str, *, status: int = 302, times: int | None = None) -> None:
        """Answer `status` with `location` (absolute, or relative to this server)."""

        def action(h: _Handler, body: bytes | None) -> None:
            h._answer(status, b"", {"Location": location})

        self._add(pattern, f"redirect {status}", action, times)


def _need(body: bytes | None, path: str) -> bytes:
    if body is None:
        raise FileNotFoundError(f"the fault needs a file to serve, and {path} is none")
    return body


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for `host` (an IP), made with the openssl command; the cert is its own CA."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={host}"),
            *("-addext", f"subjectAltName=IP:{host}", "-addext", "basicConstraints=critical,CA:TRUE"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    os.chmod(key, 0o600)
    return cert, key
