"""Stopping a run cleanly on SIGTERM (systemd stop) or SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from pxeimport.lib import signal_exit


class Stopped(BaseException):
    """Raised in the main thread by a stop signal. A BaseException, so no `except Exception` eats it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process the signal ended (143, 130)."""
        return signal_exit(self.signum)


@contextmanager
def stop_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block, the signals raise Stopped (where Python can: the main thread only).

    Blocking reads are interrupted at once (PEP 475 runs the handler, whose exception wins), so
    `finally` blocks clean up staging and the lock is released on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
