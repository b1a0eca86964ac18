"""GRUB's own parser on a grub.cfg the tests make: every menu test checks its grub.cfg with it."""

from __future__ import annotations

import subprocess
import tempfile

from tests.support.requirements import require_tool


def grub_accepts(text: str) -> str:
    """`text`, after GRUB's own parser (grub-script-check, package grub-common) accepted it."""
    tool = require_tool("grub-script-check")
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as f:
        f.write(text)
        f.flush()
        result = subprocess.run([tool, f.name], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"grub-script-check refused:\n{text}\n{result.stdout}{result.stderr}"
    return text
