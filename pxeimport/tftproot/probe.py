"""Can this TFTP root work, and can tftpd read it: the probe before any download, the modes after.

`probe` tries, in a scratch dir in `maas/.staging/`, each operation an install relies on, before a
byte is downloaded: a file with a mode, a relative symlink (every stable path is one), a rename
over a symlink (the atomic swap), a hard link (reuse of unchanged files; without one, files are
copied and hashed), renameat2's exchange (migrating the old script's plain directories; without
it, two renames). A root without symlinks or the swap (exFAT, vfat: the kernel answers EPERM or
ENOSYS) is RootUnusable, which the command reports as exit 2.

`open_up` gives the TFTP server's user, whoever it is, a way in: o+x on the root, `maas/` and
every directory below it, o+r on every file, skipping pxeimport's private dot-entries
(`.staging`, `.cache`, `.lock`). tftpd-hpa runs as its own user (`--user tftp`, chrooted with
`--secure`), so "other" is what it gets. A path this process cannot change (another user's, a
read-only filesystem) is RootUnusable naming it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pxeimport.lib import LINK_REFUSED, exchange_atomically, write_new
from pxeimport.tftproot.root import TftpRoot, UnsafePath

# Filesystems to suggest: symlinks, hard links, rename over a symlink and renameat2 exchange.
SUITABLE = "ext4, xfs or btrfs"

log = logging.getLogger(__name__)


class RootUnusable(UnsafePath):
    """The TFTP root cannot work, or tftpd could not read it, and this process cannot change that."""


@dataclass(frozen=True)
class Capabilities:
    """What the root's filesystem allows beyond the musts (symlinks, rename over one).

    `probed` is False when the disk was too full to try (the items then fail on it, exit 1, as
    any full disk: not a verdict on the filesystem).
    """

    filesystem: str
    hard_links: bool
    exchange: bool
    probed: bool = True


# A full disk or quota: says nothing about what the filesystem can do.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def probe(root: TftpRoot) -> Capabilities:
    """Try each operation an install uses in a scratch dir in `root.staging` (made if missing).

    Sets `root.hard_links`. RootUnusable, with what failed and what to do, for a root that cannot work.
    """
    fs = filesystem_type(root.path)
    try:
        capabilities = _probe(root, fs)
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        log.warning("could not probe TFTP root %s: %s", root.path, exc)
        capabilities = Capabilities(fs, hard_links=True, exchange=True, probed=False)
    root.hard_links = capabilities.hard_links
    return capabilities


def _probe(root: TftpRoot, fs: str) -> Capabilities:
    where = f"its filesystem ({fs})"
    try:
        scratch = Path(tempfile.mkdtemp(prefix="probe-", dir=root.staging_dir()))
    except OSError as exc:
        _unless_no_space(exc, f"cannot create a directory in {root.staging}: {exc}")
    try:
        try:
            write_new(scratch / "file", b"probe\n")
            os.chmod(scratch, 0o700)
        except OSError as exc:
            _unless_no_space(exc, f"{where} cannot hold a file with a given mode ({exc}); nothing was downloaded")
        try:
            os.symlink("file", scratch / "pointer")
            os.symlink("file", scratch / "new-pointer")
            os.rename(scratch / "new-pointer", scratch / "pointer")
        except OSError as exc:
            _unless_no_space(
                exc,
                f"{where} cannot hold symbolic links or rename one over another ({exc.strerror}); every stable "
                "path pxeimport serves (pxelinux.0, <release>/install) is a relative symlink switched by one "
                f"rename. Put the TFTP root on a filesystem that has them ({SUITABLE}); nothing was downloaded",
            )
        hard_links = _try_link(scratch / "file", scratch / "link")
        os.mkdir(scratch / "dir")
        exchange = exchange_atomically(scratch / "dir", scratch / "pointer")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Capabilities(fs, hard_links, exchange)


def _unless_no_space(exc: OSError, message: str) -> NoReturn:
    """Re-raise a full disk as it is; anything else is RootUnusable(message)."""
    if exc.errno in NO_SPACE:
        raise exc
    raise RootUnusable(message) from exc


def _try_link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in LINK_REFUSED:
            raise
        return False
    return True


def open_up(root: TftpRoot, *, dry: bool = False) -> list[Path]:
    """Add o+x to every served directory and o+r to every served file that lacks it; return those changed
    (`dry`: those it would change, changing nothing).

    Served: the root, `maas/` and everything below but dot-entries; symlinks are left (their mode
    is not used). RootUnusable for the first path whose mode this process may not change.
    """
    changed: list[Path] = []
    for path in (root.path, root.maas):
        _grant(path, stat.S_IXOTH, changed, dry)
    for top, dirs, files in os.walk(root.maas):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in dirs:
            _grant(Path(top, name), stat.S_IXOTH, changed, dry)
        for name in files:
            if not name.startswith("."):
                _grant(Path(top, name), stat.S_IROTH, changed, dry)
    return changed


def _grant(path: Path, bits: int, changed: list[Path], dry: bool = False) -> None:
    """Add mode `bits` to `path` itself if it is a directory or regular file that lacks them."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)) or st.st_mode & bits == bits:
        return
    mode = stat.S_IMODE(st.st_mode)
    try:
        if not dry:
            os.chmod(path, mode | bits)
    except OSError as exc:
        what = "enter it" if bits == stat.S_IXOTH else "read it"
        flag = "o+x" if bits == stat.S_IXOTH else "o+r"
        raise RootUnusable(
            f"{path} is mode {mode:04o}, owned by uid {st.st_uid}: the TFTP server's user cannot {what}, and this "
            f"import (uid {os.geteuid()}) cannot change it ({exc.strerror}). Run `chmod {flag} {path}` as its owner"
        ) from exc
    changed.append(path)


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` ("ext4", "fuseblk", ...) from /proc/self/mounts; "unknown"."""
    target = os.path.realpath(path)
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            # Mount points escape spaces and the like as octal (\040).
            mount = fields[1].encode().decode("unicode_escape")
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, kind = mount, fields[2]
    return kind
