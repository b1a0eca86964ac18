"""Sizes as pxeimport says them everywhere (the command, the admin): decimal megabytes, SI (1 MB = 10^6 bytes)."""

from __future__ import annotations


def megabytes(size: int) -> str:
    """`size` bytes as "49.1 MB" (one decimal)."""
    return f"{size / 1e6:.1f} MB"
