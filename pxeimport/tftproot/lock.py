"""The TFTP root's lock: one import at a time, however it was started (cron, the admin, a rack's worker).

flock(2) on `<root>/maas/.lock`: the kernel releases it when the holder dies, so a crash never
leaves a stale lock. The holder writes who it is into the file, for the message others get.

Taking the lock and writing the name are two steps, so a process that finds the lock taken may
read the file in the instant between them (or between the holder's clearing it and its unlock).
It then looks again, for up to NAME_WAIT seconds: the holder names itself within microseconds,
or the lock comes free and the looker takes it. Only a holder that never names itself (another
program's flock on the file) is reported as unknown.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

# Its owner's only: the file names a process and a host, and tftpd serves every file of the root it may read.
FILE_MODE = 0o600
NAME_WAIT = 2.0
LOOK_AGAIN = 0.01


class LockHeld(Exception):
    """Another import holds the TFTP root's lock."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        super().__init__(f"another import holds {lock_path} ({holder or 'holder unknown'})")
        self.lock_path = lock_path
        self.holder = holder


def _take(fd: int, lock_path: Path, name_wait: float) -> None:
    """flock `fd` without blocking; LockHeld naming the holder, once it has named itself, if taken."""
    deadline = time.monotonic() + name_wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if holder or time.monotonic() >= deadline:
            raise LockHeld(lock_path, holder)
        time.sleep(LOOK_AGAIN)


@contextlib.contextmanager
def hold_lock(lock_path: Path, name_wait: float = NAME_WAIT) -> Iterator[None]:
    """Hold `lock_path` exclusively for the block; LockHeld (naming the holder) if another process has it.

    `name_wait` (seconds) bounds how long a nameless holder is given to write its name.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a lock file made 0644 by an earlier version
        _take(fd, lock_path, name_wait)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def holder(lock_path: Path) -> str | None:
    """Who holds `lock_path` now ("holder unknown" if it never named itself), None when nobody does, the
    file does not exist or cannot be opened. Takes no lock (a shared flock, dropped at once) and writes
    nothing: for a dry run, which must not hold up a real one."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "holder unknown"
    finally:
        os.close(fd)
