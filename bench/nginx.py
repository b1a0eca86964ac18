"""nginx on loopback serving the benchmark's archives, unthrottled and rate-limited, logging bytes sent."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.archive import BenchError

# One line per request, written when nginx has handed the whole response to the kernel.
LOG_FORMAT = '$server_port $status $bytes_sent $body_bytes_sent $request_time $msec "$request_method $request_uri"'
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class LogEntry:
    """One request as the access log recorded it; `bytes_sent` counts headers and body."""

    port: int
    status: int
    bytes_sent: int
    body_bytes: int
    seconds: float
    finished: float
    method: str
    uri: str

    @property
    def path(self) -> str:
        """The URI with slashes merged, as nginx maps it to a file."""
        return re.sub("/+", "/", self.uri)


def parse_log_line(line: str) -> LogEntry:
    """One access log line in LOG_FORMAT."""
    port, status, sent, body, seconds, finished, request = line.rstrip("\n").split(" ", 6)
    method, _, uri = request.strip('"').partition(" ")
    return LogEntry(int(port), int(status), int(sent), int(body), float(seconds), float(finished), method, uri)


def total_bytes(entries: list[LogEntry]) -> int:
    return sum(e.bytes_sent for e in entries)


def status_counts(entries: list[LogEntry]) -> Counter[int]:
    return Counter(e.status for e in entries)


def repeated_uris(entries: list[LogEntry]) -> dict[str, int]:
    """Paths asked for more than once, with their count."""
    counts = Counter(e.path for e in entries)
    return {uri: n for uri, n in counts.items() if n > 1}


def max_in_flight(entries: list[LogEntry]) -> int:
    """The most requests being served at one moment (from each one's end time and duration)."""
    # Times are logged to the millisecond: overlaps of one millisecond or less are rounding, not overlaps.
    # At equal times an end (-1) sorts before a start (+1): back-to-back requests do not overlap.
    starts = [(min(e.finished, e.finished - e.seconds + 0.001), 1) for e in entries]
    events = sorted(starts + [(e.finished, -1) for e in entries])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return max(most, 1 if entries else 0)


class AccessLog:
    """The server's access log, read from a mark: what one run pulled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int, settle: float = 0.05) -> list[LogEntry]:
        """Entries written after `mark`, once no new line has come for `settle` seconds (at most 2 s)."""
        deadline = time.monotonic() + 2.0
        size = -1
        while size != self.mark() and time.monotonic() < deadline:
            size = self.mark()
            time.sleep(settle)
        with open(self.path, encoding="utf-8") as log:
            log.seek(mark)
            return [parse_log_line(line) for line in log if line.strip()]


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def temp_path_directives(nginx: str, directory: Path) -> list[str]:
    """Point every temp path this nginx was built with into `directory` (the defaults need /var/lib/nginx)."""
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False).stderr
    kinds = re.findall(r"--http-([a-z-]+)-temp-path=", built)
    return [f"{kind.replace('-', '_')}_temp_path {directory / kind};" for kind in kinds]


def config(*, web_root: Path, workdir: Path, ports: tuple[int, int], rate: str, log: Path, extra: list[str]) -> str:
    """nginx.conf: `ports[0]` unthrottled, `ports[1]` with a per-request `limit_rate`."""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    servers = "".join(
        f"""
    server {{
        listen 127.0.0.1:{port};
        root {web_root};
        {limit}
    }}"""
        for port, limit in ((ports[0], ""), (ports[1], f"limit_rate {rate};"))
    )
    temp = "\n    ".join(extra)
    return f"""{user}
daemon off;
worker_processes 2;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    log_format bench '{LOG_FORMAT}';
    access_log {log} bench;
    {temp}
{servers}
}}
"""


def ensure_installed(tool: str, package: str) -> str:
    """The tool's path; as root, `apt-get install` its Debian package when it is missing."""
    found = shutil.which(tool)
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError(f"{tool} is not installed: sudo apt-get install {package}")
    print(f"  {tool} is missing: apt-get install {package}")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(install, env=env, check=False)
    found = shutil.which(tool)
    if not found:
        raise BenchError(f"apt-get install {package} did not provide {tool}")
    return found


class Nginx:
    """Our own nginx (own config, pid file and logs in `workdir`), serving `web_root` on two loopback ports."""

    def __init__(self, web_root: Path, workdir: Path, rate: str) -> None:
        self.web_root = web_root
        self.workdir = workdir
        self.rate = rate
        self.ports = (free_port(), free_port())
        self.log = AccessLog(workdir / "access.log")
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, *, throttled: bool) -> str:
        return f"http://127.0.0.1:{self.ports[1 if throttled else 0]}/"

    def start(self) -> None:
        nginx = ensure_installed("nginx", "nginx-light")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        extra = temp_path_directives(nginx, self.workdir / "temp")
        conf.write_text(
            config(
                web_root=self.web_root,
                workdir=self.workdir,
                ports=self.ports,
                rate=self.rate,
                log=self.log.path,
                extra=extra,
            )
        )
        (self.workdir / "temp").mkdir(exist_ok=True)
        command = [nginx, "-p", str(self.workdir), "-e", str(self.workdir / "error.log"), "-c", str(conf)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.ports)
        while pending:
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                error = (self.workdir / "error.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise BenchError(f"nginx did not start (see {self.workdir / 'nginx.conf'}):\n{error}")
            try:
                socket.create_connection(("127.0.0.1", pending[0]), timeout=1).close()
                pending.pop(0)
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the master (which stops its workers); kill it if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Nginx:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
