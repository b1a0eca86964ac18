"""Files on disk, written so a reader or a crash never sees half of one: the one home for that.

- `write_atomic`: a temporary ".<name>.new-<8 hex>" beside the target, written, fsynced, renamed over
  the target, and the directory fsynced. A reader sees the old file or the new one, never a mix; a
  crash leaves at most the temporary, which `remove_debris` recognises and deletes.
- `sha256_file`: a file's SHA-256 read in 1 MiB blocks (memory does not grow with its size).
- Streaming writes for downloads and extraction: `HashingWriter` (hash, count, early writeback every
  `WRITEBACK_STEP` bytes, so the closing fsync waits only for the tail), `new_file` and `copy_new`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pxeimport.lib.streamdigest import StreamDigest

FILE_MODE = 0o644
BLOCK_SIZE = 1 << 20
# ".<name>.new-<8 hex>": a temporary that a killed run may leave; its rename never happened.
DEBRIS_RE = re.compile(r"^\..+\.new-[0-9a-f]{8}$")


def temporary_name(path: Path) -> Path:
    """A fresh name beside `path` that `remove_debris` recognises."""
    return path.with_name(f".{path.name}.new-{secrets.token_hex(4)}")


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at `path` (follows a symlink); OSError if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def write_new(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Create `path` (it must not exist: O_EXCL, no symlink followed) with `data`, `mode`, fsynced."""
    with os.fdopen(open_new(path, mode), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE, *, sync_dir: bool = True) -> None:
    """Replace `path` with `data` in one rename; the temporary is removed if anything fails."""
    temporary = temporary_name(path)
    try:
        write_new(temporary, data, mode)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a rename, a new link) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_debris(directory: Path) -> list[Path]:
    """Delete the temporaries of `write_atomic` a killed run left in `directory`; return them."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in entries:
        if DEBRIS_RE.match(entry.name) and not entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use in `directory`'s filesystem; None if unknown."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


# The most bytes one write(2) hands to the page cache. Linux sizes a file's page-cache folios by
# the write (large folios): a 1 MiB write asks for 1 MiB folios. In a VM whose balloon reports
# free memory to the host (virtio free page reporting, as on the machine of BENCHMARKS.md), such
# high-order blocks are mostly memory the host has taken back and must fault in again: there,
# writing 1 GiB into a new file took 0.52-1.65 s in 1 MiB writes and 0.15-0.19 s in 256 KiB
# writes (issue 13). Smaller writes cost only syscalls (about 4,000 per GiB).
WRITE_SIZE = 256 << 10


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until all of `data` is written (a write may be short), WRITE_SIZE at a time."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:WRITE_SIZE])
        view = view[written:]


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """os.pwrite all of `data` at `offset` (a write may be short), WRITE_SIZE at a time."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view[:WRITE_SIZE], offset)
        view, offset = view[written:], offset + written


# Start writing a big file to disk while it still downloads, so the fsync at its end waits only
# for the tail instead of the whole file (on a 1 GiB file, that fsync alone costs more than the
# download from a fast mirror).
WRITEBACK_STEP = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing [offset, offset+length) out, without waiting (Linux only)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(new: Path, old: Path) -> None:
    """Swap `new` and `old` atomically (renameat2 RENAME_EXCHANGE); fall back to two renames.

    After it, `old`'s name holds what `new` held, and `new`'s name holds the old entry.
    The fallback, for filesystems without exchange, leaves a window of two syscalls.
    """
    if exchange_atomically(new, old):
        return
    aside = new.with_name(new.name + ".aside")
    os.rename(old, aside)
    os.rename(new, old)
    os.rename(aside, new)


def exchange_atomically(new: Path, old: Path) -> bool:
    """Swap `new` and `old` with renameat2(RENAME_EXCHANGE); False when the kernel, libc or the
    filesystem has no exchange (EINVAL, ENOSYS, EOPNOTSUPP); OSError for any other refusal."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(old), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        raise OSError(err, os.strerror(err), str(new), None, str(old))
    return False


def is_kind(path: Path, test: Callable[[int], bool]) -> bool:
    """Whether `path` itself (not what a symlink there names) passes `test` (stat.S_ISDIR, S_ISREG)."""
    st = lstat_or_none(path)
    return st is not None and test(st.st_mode)


def lstat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def remove_entry(path: Path) -> None:
    """Remove a file, symlink or whole tree; an OSError names the whole path of what could not go (shutil's
    fd-based walk gives bare names)."""
    st = lstat_or_none(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, onerror=_raise_with_path)
    else:
        os.unlink(path)


def _raise_with_path(function: Any, path: str, exc_info: Any) -> None:
    exc = exc_info[1]
    if isinstance(exc, OSError) and exc.errno is not None:
        raise type(exc)(exc.errno, exc.strerror, path) from exc
    raise exc


@dataclass(frozen=True)
class Written:
    """A file written by streaming: where, how many bytes, their hex SHA-256."""

    path: Path
    size: int
    sha256: str


class HashingWriter:
    """A file-like sink over an open fd: `write` hashes (on a thread of its own, pxeimport.lib.streamdigest),
    counts and writes every byte, and asks the kernel to start writing back every WRITEBACK_STEP
    bytes. `size`/`digest` continue an existing prefix (a resumed download: `digest` has hashed the
    `size` bytes already in the file). `close()` closes the fd and stops the hash thread."""

    def __init__(self, fd: int, *, size: int = 0, digest: hashlib._Hash | None = None) -> None:
        self.fd = fd
        self.size = size
        self.digest = StreamDigest(digest)
        self._flushed = size

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        write_all(self.fd, data)
        self.size += len(data)
        if self.size - self._flushed >= WRITEBACK_STEP:
            start_writeback(self.fd, self._flushed, self.size - self._flushed)
            self._flushed = self.size
        return len(data)

    @property
    def sha256(self) -> str:
        """The SHA-256 of every byte written (waits for the hash thread)."""
        return self.digest.hexdigest()

    def close(self) -> None:
        """Close the fd and end the writes; the hash thread stops (`sha256` still answers)."""
        self.digest.close()
        os.close(self.fd)


def open_new(path: Path, mode: int = FILE_MODE) -> int:
    """Create `path` for writing (O_EXCL: it must not exist; no symlink followed) with `mode` exactly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    os.fchmod(fd, mode)  # os.open's mode is cut by the umask
    return fd


def open_truncated(path: Path, mode: int = FILE_MODE) -> int:
    """`path` opened for writing from byte 0, created with `mode` if absent (no symlink followed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    os.fchmod(fd, mode)
    return fd


@contextlib.contextmanager
def new_file(path: Path, mode: int = FILE_MODE) -> Iterator[HashingWriter]:
    """Create `path` (see `open_new`) and yield a writer for it; fsync and close after the block.

    If the block (or the fsync) fails, the half-written file is removed and the error propagates.
    """
    writer = HashingWriter(open_new(path, mode))
    try:
        yield writer
        os.fsync(writer.fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    finally:
        writer.close()


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def copy_new(source: Readable, path: Path, mode: int = FILE_MODE) -> Written:
    """Copy `source` to its end into a new file at `path` in BLOCK_SIZE reads (memory does not grow
    with the size), hashing on the way; fsynced. Errors as `new_file`."""
    with new_file(path, mode) as out:
        while block := source.read(BLOCK_SIZE):
            out.write(block)
    return Written(path, out.size, out.sha256)


# os.link's refusals that a copy gets round: no hard links on this filesystem (exFAT, vfat, some
# FUSE and network filesystems answer EPERM or EOPNOTSUPP), another user's file under
# fs.protected_hardlinks=1 (EPERM), another filesystem (EXDEV), too many links (EMLINK).
LINK_REFUSED = frozenset({errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS})


class CopyMismatch(OSError):
    """A file copied in place of a hard link did not have the SHA-256 it was reused for."""


def link_or_copy(source: Path, target: Path, sha256: str, *, hard_links: bool = True) -> bool:
    """Make `target` (new) hold `source`'s bytes with FILE_MODE; True if it had to copy.

    A hard link when the filesystem and the kernel allow it and the file already has FILE_MODE
    or is ours to chmod; otherwise a copy, hashed on the way: CopyMismatch (and no `target`) when
    the bytes are not `sha256`, so a damaged file is never carried into a new version.
    """
    if hard_links:
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno not in LINK_REFUSED:
                raise
        else:
            try:
                if stat.S_IMODE(os.lstat(target).st_mode) != FILE_MODE:
                    os.chmod(target, FILE_MODE)
                return False
            except PermissionError:
                os.unlink(target)  # another user's file with another mode: a copy of our own
    with open(source, "rb") as f:
        written = copy_new(f, target)
    if written.sha256 != sha256:
        os.unlink(target)
        raise CopyMismatch(errno.EIO, f"{source} no longer has the SHA-256 {sha256} it was reused for", str(source))
    return True
