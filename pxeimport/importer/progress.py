"""A progress display for a terminal: one bar per file being downloaded and one for the run (rich)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class TerminalProgress:
    """`update(label, done, total)` from any thread; bars disappear as files finish, the total stays."""

    def __init__(self, stream: TextIO) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._done: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._overall = self._progress.add_task("all files", total=None)

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, label: str, done: int, total: int | None) -> None:
        with self._lock:
            if label not in self._tasks:
                self._tasks[label] = self._progress.add_task(label, total=total)
            task = self._tasks[label]
            self._done[label] = done
            if total is not None:
                self._totals[label] = total
            self._progress.update(task, completed=done, total=total)
            if total is not None and done >= total:
                self._progress.remove_task(task)
            known = sum(self._totals.values()) or None
            self._progress.update(self._overall, completed=sum(self._done.values()), total=known)
