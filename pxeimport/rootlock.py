"""The TFTP root's lock: one import at a time, however it was started (cron, the admin, a rack's worker).

flock(2) on `<root>/maas/.lock`: the kernel releases it when the holder dies, so a crash never
leaves a stale lock. The holder writes who it is into the file, for the message others get.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o644


class LockHeld(Exception):
    """Another import holds the TFTP root's lock."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        super().__init__(f"another import holds {lock_path} ({holder or 'holder unknown'})")
        self.lock_path = lock_path
        self.holder = holder


@contextlib.contextmanager
def hold_lock(lock_path: Path) -> Iterator[None]:
    """Hold `lock_path` exclusively for the block; LockHeld (naming the holder) if another process has it."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            raise LockHeld(lock_path, holder) from None
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
