"""A real tftpd-hpa serving a TFTP root on loopback, a real TFTP client (curl's tftp://), and the paths a menu names."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.requirements import require_tool

BASE = "maas/amd64/base"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TftpServer:
    """in.tftpd --secure (chrooted into the root, as tftpd-hpa runs in production) on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.tftpd = require_tool("in.tftpd")
        self.curl = require_tool("curl")
        if os.geteuid() != 0:
            message = "tftpd-hpa's --secure chroot needs root"
            if os.environ.get("CI"):
                pytest.fail(f"CI must run every test: {message}")
            pytest.skip(message)
        self.root = root
        self.port = free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TftpServer:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [self.tftpd, "--foreground", "--listen", "--address", f"127.0.0.1:{self.port}"]
        command += ["--secure", "--user", "nobody", "--verbosity", "1", str(self.root)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.2)
        if self.process.poll() is not None:
            raise RuntimeError(f"in.tftpd exited: {self.process.stderr.read().decode() if self.process.stderr else ''}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)

    def get(self, path: str, timeout: float = 20) -> bytes:
        """Fetch `path` (relative to the root) over TFTP with curl; CalledProcessError if it fails."""
        url = f"tftp://127.0.0.1:{self.port}/{path}"
        command = [self.curl, "--silent", "--show-error", "--fail", "--max-time", str(timeout), url]
        return subprocess.run(command, capture_output=True, check=True, timeout=timeout + 5).stdout


def menu_pair(menu: str, label: str) -> tuple[str, str]:
    """The kernel and initrd paths an entry of a pxelinux menu names (relative to pxelinux's dir)."""
    entry = menu.split(f"LABEL {label}\n", 1)[1]
    kernel = re.search(r"KERNEL (\S+)", entry)
    initrd = re.search(r"initrd=(\S+)", entry)
    assert kernel and initrd, menu
    return kernel.group(1), initrd.group(1)
