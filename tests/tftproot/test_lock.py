"""The root lock's message names the holder even when the holder has not written its name yet."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from pxeimport.tftproot import LockHeld, hold_lock


def take_without_naming(lock_path: Path) -> int:
    """flock the file as a holder does in the instant before it writes its name."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_holder_that_names_itself_late_is_still_named(tmp_path):
    lock_path = tmp_path / ".lock"
    fd = take_without_naming(lock_path)
    later = threading.Timer(0.2, os.pwrite, (fd, b"pid 4242 on rack-1 since now\n", 0))
    later.start()
    try:
        with pytest.raises(LockHeld) as caught, hold_lock(lock_path):
            pytest.fail("took a lock that is held")
    finally:
        later.join()
        os.close(fd)
    assert caught.value.holder == "pid 4242 on rack-1 since now"


def test_a_lock_freed_while_looking_for_its_holders_name_is_taken(tmp_path):
    lock_path = tmp_path / ".lock"
    fd = take_without_naming(lock_path)
    release = threading.Timer(0.2, os.close, (fd,))
    release.start()
    try:
        with hold_lock(lock_path):
            assert f"pid {os.getpid()} on " in lock_path.read_text()
    finally:
        release.join()


def test_a_holder_that_never_names_itself_is_reported_unknown_after_the_wait(tmp_path):
    lock_path = tmp_path / ".lock"
    fd = take_without_naming(lock_path)
    try:
        started = time.monotonic()
        with pytest.raises(LockHeld, match=r"\(holder unknown\)"), hold_lock(lock_path, name_wait=0.1):
            pytest.fail("took a lock that is held")
        assert time.monotonic() - started < 5
    finally:
        os.close(fd)
