"""What a run of a management command gave: its exit code, stdout and stderr."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CommandResult:
    code: int
    stdout: str
    stderr: str
