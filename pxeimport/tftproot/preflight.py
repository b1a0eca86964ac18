"""What would stop a real run in a TFTP root, found without writing anything: for a dry run, which must
make the same checks as a real run and report instead of failing."""

from __future__ import annotations

import os
import stat

from pxeimport.tftproot.lock import holder
from pxeimport.tftproot.root import TftpRoot


def blockers(root: TftpRoot) -> list[str]:
    """One sentence per thing that would stop a real run, naming the fix: a directory this user may not
    write (the root or, while it does not exist, its nearest existing parent; maas/ and its staging dir),
    and the lock another import holds (the real run's exit 75)."""
    found = []
    existing = root.path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    for directory in (existing, root.maas, root.staging):
        if directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK):
            st = directory.stat()
            found.append(
                f"{directory} is not writable by uid {os.geteuid()} (owner uid {st.st_uid}, mode "
                f"{stat.S_IMODE(st.st_mode):o}): run as its owner (the service user), or give this user the "
                f"root: chown -R <user>: {root.path}"
            )
            break
    held = holder(root.lock_path)
    if held is not None:
        found.append(f"another import holds {root.lock_path} ({held}): a real run now would stop with exit 75")
    return found
