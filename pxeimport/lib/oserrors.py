"""An operating system error in words an operator can act on: which file, whose, and what to do."""

from __future__ import annotations

import os
from pathlib import Path


def describe_os_error(exc: OSError, where: Path | None = None) -> str:
    """`exc` with the whole path and, for a permission problem, the file's owner and the fix.

    `where`: the directory a relative `exc.filename` is in (os.scandir/unlink at a dir fd give bare names).
    """
    name = exc.filename
    path = Path(os.fsdecode(name)) if name is not None else None
    if path is not None and where is not None and not path.is_absolute():
        path = where / path
    if not isinstance(exc, PermissionError) or path is None:
        return f"{path}: {exc.strerror or exc}" if path is not None else str(exc)
    try:
        owner = f"owned by uid {path.lstat().st_uid}"
    except OSError:
        owner = "its directory not writable"
    return (
        f"{path}: permission denied for uid {os.geteuid()} ({owner}): made by another user (root, by hand?); run "
        "pxeimport as the user that owns the TFTP root, or chown -R that user: the root"
    )
