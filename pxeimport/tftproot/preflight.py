"""What would stop a real run in a TFTP root, found without writing anything (for a dry run, which must make
the same checks as a real run and report instead of failing), and what a run would do there that the service
could not undo (root writing into the service user's root)."""

from __future__ import annotations

import os
import pwd
import shlex
import stat
import sys

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
            fix = (
                f"run as its owner (the service user), or give this user the root: chown -R <user>: {root.path}"
                if directory != existing or existing == root.path
                else f"make the root for the user that runs pxeimport: install -d -o <user> {root.path}"
            )
            found.append(
                f"{directory} is not writable by uid {os.geteuid()} (owner uid {st.st_uid}, mode "
                f"{stat.S_IMODE(st.st_mode):o}): {fix}"
            )
            break
    held = holder(root.lock_path)
    if held is not None:
        found.append(f"another import holds {root.lock_path} ({held}): a real run now would stop with exit 75")
    return found


def hazards(root: TftpRoot) -> list[str]:
    """What a run here would do that the service cannot undo later, one sentence each with the fix: root
    writing into a TFTP root another user (the service user) owns, whose files the service then cannot
    clean up or replace (seen: superseded versions kept for ever, the freshness record unreadable)."""
    if os.geteuid() != 0:
        return []
    try:
        owner = root.path.stat().st_uid
    except OSError:
        return []
    if owner == 0:
        return []
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    command = shlex.join([sys.executable, *sys.argv])
    return [
        f"running as root in {root.path}, which {name} owns: the files this run makes are root's, and {name}'s "
        f"runs (the service) cannot clean them up; run it as that user: runuser -u {name} -- {command}"
    ]
