"""What a test needs from the machine (a file, a tool, gpg-agents, RabbitMQ): skip when missing, fail under CI."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import NoReturn

import pytest


def require_file(path: Path, package: str) -> Path:
    """`path`; skip when it is missing (fail under CI), naming the Debian package that provides it."""
    if not path.exists():
        skip_or_fail(f"{path} is missing (apt-get install {package}, or run .ci/run)")
    return path


def skip_or_fail(message: str) -> NoReturn:
    """Skip with `message`; under CI, where everything a test needs is installed, fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every test: {message}")
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The tool's path; skip when it is missing, but fail under CI, where every tool is installed."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (apt-get install it, or run .ci/run)")
    return path


def gpg_agents(home: Path) -> list[int]:
    """Process ids of the live gpg-agents serving GNUPGHOME `home` (from /proc: "gpg-agent --homedir HOME")."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if Path(argv[0]).name != "gpg-agent" or "--homedir" not in argv[:-1]:
            continue
        if Path(argv[argv.index("--homedir") + 1]).resolve() == home.resolve():
            found.append(int(proc.name))
    return found


BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


def require_rabbitmq() -> str:
    """The local RabbitMQ's URL; skip if nothing listens on 127.0.0.1:5672 (fail under CI: .ci/run starts it)."""
    if not Path("/usr/sbin/rabbitmq-server").exists():
        require_tool("rabbitmq-server")
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        skip_or_fail(f"RabbitMQ is not running on 127.0.0.1:5672 ({exc}): rabbitmq-server -detached, or run .ci/run")
    return BROKER_URL
