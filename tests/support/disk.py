"""A small real tmpfs for the full-disk tests: mounted where a test asks, or the test skips (fails under CI)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.requirements import require_tool


def mount_tmpfs(where: Path, options: str) -> None:
    """Mount a tmpfs at `where`; skip (fail under CI) when this process may not mount."""
    require_tool("mount")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs for the disk tests (needs root): {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run every test: {message}")
        pytest.skip(message)
