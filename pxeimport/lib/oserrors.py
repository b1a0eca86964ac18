"""An operating system error in words an operator can act on: which file, whose, and the command that fixes it."""

from __future__ import annotations

import errno
import os
import pwd
from pathlib import Path


def user_name(uid: int) -> str:
    """The login name of `uid`, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def describe_os_error(exc: OSError, tree: Path | None = None) -> str:
    """`exc` with its whole path and, for a permission problem, the file's owner and the fix: run as that
    owner, or (as root) give `tree` (a TFTP root) to the user running now; for a full disk or quota (ENOSPC,
    EDQUOT), that space must be freed there (where: the path, else the tree the caller names)."""
    name = exc.filename
    path = Path(os.fsdecode(name)) if name is not None else None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "its filesystem is full" if exc.errno == errno.ENOSPC else "its owner's disk quota is used up"
        said = f"{what} ({exc.strerror}): free space there, then run again"
        return f"{path}: {said}" if path is not None else said  # no path: the caller names the tree
    if not isinstance(exc, PermissionError) or path is None:
        return f"{path}: {exc.strerror or exc}" if path is not None else str(exc)
    me = user_name(os.geteuid())
    try:
        owner = f"{user_name(path.lstat().st_uid)}'s"
    except OSError:
        owner = "another user's"
    fix = f"chown -R {me}: {tree}" if tree is not None else f"chown {me}: {path}"
    return f"{path}: permission denied for {me}: it is {owner} (made by hand as another user?); as root: {fix}"
