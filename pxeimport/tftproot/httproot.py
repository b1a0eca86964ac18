"""The HTTP root: verified files that nodes fetch over HTTP (the live-server ISO the installer downloads).

Set by PXEIMPORT_HTTP_ROOT (a directory, served by a web server: contrib/nginx/) and
PXEIMPORT_HTTP_URL (the URL nodes reach it at). Everything pxeimport keeps there is below
`images/`, at an immutable path chosen by the layout that names the content, e.g.

    images/ubuntu/noble/<first 16 hex of the ISO's SHA-256>/ubuntu-24.04.3-live-server-amd64.iso

so a path never changes its bytes: a node that read a menu naming it gets what the menu meant, and
a web cache may keep it for ever. A file appears by one rename of a complete, verified file (a hard
link of the staged download, or a copy when the HTTP root is on another filesystem). Anything else
in the HTTP root (an operator's autoinstall files, say) is never touched.

A file is collected once no text in the TFTP root names its URL any more (a menu, or the
boot-options of a version dir, which clean-up keeps for the grace period after no menu names it)
and it is itself older than the grace period. No Django here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from pxeimport.lib import InvalidName, check_name, copy_new, fsync_dir, lstat_or_none, temporary_name

MANAGED_DIR = "images"
DIR_MODE = 0o755
FILE_MODE = 0o644


class HttpRootError(ValueError):
    """A path below the HTTP root that is unsafe, or an HTTP root or URL that cannot be used."""


# Dotted names a layout keeps in the HTTP root: Anaconda's tree description, read by inst.stage2 (productmd).
DOTTED_NAMES = frozenset({".treeinfo"})


def check_relative(relative: str) -> str:
    """`relative` if it is a safe path below images/: names as pxeimport.lib.names allows (or a file in
    DOTTED_NAMES), no "..", no "/" ends."""
    parts = relative.split("/")
    try:
        for part in parts[:-1]:
            check_name("file", part)
        if parts[-1] not in DOTTED_NAMES:
            check_name("file", parts[-1])
    except InvalidName as exc:
        raise HttpRootError(f"unsafe path below the HTTP root {relative!r}: {exc}") from exc
    return relative


class HttpRoot:
    """`path` served at `url` (http:// or https://); `grace_seconds` as the TFTP root's."""

    def __init__(self, path: Path | str, url: str, grace_seconds: float) -> None:
        if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            raise HttpRootError(f"PXEIMPORT_HTTP_URL {url!r} must be an http:// or https:// URL without spaces")
        self.path = Path(path)
        self.url = url.rstrip("/") + "/"
        self.grace_seconds = grace_seconds
        self.managed = self.path / MANAGED_DIR

    def url_for(self, relative: str) -> str:
        """The URL nodes fetch `relative` (below images/) at."""
        return f"{self.url}{MANAGED_DIR}/{check_relative(relative)}"

    def path_for(self, relative: str) -> Path:
        return self.managed / check_relative(relative)

    def has(self, relative: str) -> bool:
        """True when `relative` is a regular file (not a link) in the HTTP root."""
        st = lstat_or_none(self.path_for(relative))
        return st is not None and stat.S_ISREG(st.st_mode)

    def publish(self, relative: str, source: Path, *, replace: bool = False) -> Path:
        """Make the verified file `source` available at `relative`; return its path.

        Hard-linked when on the same filesystem, else copied (fsynced); either way it appears by
        one rename. An existing file at the path is kept (the path names its content) unless
        `replace` (it was found damaged). OSError for the disk; HttpRootError for a symlink on the way.
        """
        target = self.path_for(relative)
        self._ensure_dirs(target.parent)
        if self.has(relative) and not replace:
            return target
        temporary = temporary_name(target)
        try:
            try:
                os.link(source, temporary)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                with open(source, "rb") as data:
                    copy_new(data, temporary, FILE_MODE)
            os.chmod(temporary, FILE_MODE)
            os.rename(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        fsync_dir(target.parent)
        return target

    def _ensure_dirs(self, directory: Path) -> None:
        """Create `directory` below the HTTP root (0755: the web server's user must enter), refusing symlinks."""
        self.path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        current = self.path
        for part in directory.relative_to(self.path).parts:
            current = current / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(current, DIR_MODE)
            st = os.lstat(current)
            if not stat.S_ISDIR(st.st_mode):
                raise HttpRootError(f"{current} is not a directory (a symlink?); refusing to write through it")
            if stat.S_IMODE(st.st_mode) & 0o555 != 0o555:
                os.chmod(current, stat.S_IMODE(st.st_mode) | 0o555)

    def unwritable(self) -> Path | None:
        """The first directory of the HTTP root this user could not add a file to (the root or its nearest
        existing parent, images/, any directory below it), or None: checked before a run downloads anything."""
        existing = self.path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        directories = [existing] if existing != self.path else [self.path]
        if self.managed.is_dir() and not self.managed.is_symlink():
            directories.append(self.managed)
            for where, dirs, _ in os.walk(self.managed):
                dirs[:] = [d for d in dirs if not (Path(where) / d).is_symlink()]
                directories += [Path(where) / d for d in dirs]
        return next((d for d in directories if not os.access(d, os.W_OK | os.X_OK)), None)

    def named(self, texts: Iterable[str]) -> set[str]:
        """The paths below images/ whose URL appears in any of `texts` (menus, boot options); a URL that
        names a directory (ends with "/": Anaconda's inst.stage2) names every file below it, and so does
        linuxrc's instsys=<dir>/<file> name every file of <dir> (linuxrc reads <dir>/config and fetches the
        parts it lists from there: linuxrc's url.c, url_find_instsys)."""
        pattern = re.compile(r"(instsys=)?" + re.escape(f"{self.url}{MANAGED_DIR}/") + r"([^\s'\"]+)")
        found = {path.rsplit("/", 1)[0] + "/" if instsys and "/" in path else path
                 for text in texts for instsys, path in pattern.findall(text)}  # fmt: skip
        return {path for match in found for path in (self._files_below(match) if match.endswith("/") else [match])}

    def _files_below(self, directory: str) -> list[str]:
        """The regular files below `directory` (a path below images/ ending in "/"); none for an unsafe path."""
        try:
            top = self.path_for(directory.rstrip("/"))
        except HttpRootError:
            return []
        if top.is_symlink() or not top.is_dir():
            return []
        files = []
        for where, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if not (Path(where) / d).is_symlink()]
            files += [(Path(where) / n).relative_to(self.managed).as_posix() for n in names]
        return [f for f in files if self.has(f)]

    def collect_garbage(self, named: set[str], now: float | None = None, *, dry: bool = False) -> list[Path]:
        """Delete files below images/ that no text names and that are older than the grace period;
        remove the directories that leaves empty. Return the files removed (`dry`: that would be)."""
        now = time.time() if now is None else now
        removed: list[Path] = []
        if not self.managed.is_dir() or self.managed.is_symlink():
            return removed
        for directory, dirs, files in os.walk(self.managed, topdown=False):
            for name in files:
                path = Path(directory) / name
                relative = path.relative_to(self.managed).as_posix()
                st = path.lstat()
                if relative in named or now - st.st_mtime < self.grace_seconds:
                    continue
                if not dry:
                    path.unlink()
                removed.append(path)
            for name in dirs if not dry else ():
                with contextlib.suppress(OSError):  # not empty, or not a directory: kept
                    os.rmdir(Path(directory) / name)
        return removed


def tftp_texts(maas_dir: Path, gone: Collection[Path] = ()) -> list[str]:
    """Every text in the TFTP root's maas/ that may name a URL in the HTTP root: each arch's menus
    (pxelinux.cfg/*, grub/*) and each version dir's boot-options; none below a path in `gone`
    (what a dry run says the run would delete)."""
    patterns = ("*/base/pxelinux.cfg/*", "*/base/grub/*", "*/base/*/install-*/boot-options")
    texts = []
    for pattern in patterns:
        for path in maas_dir.glob(pattern):
            if any(path.is_relative_to(g) for g in gone):
                continue
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if path.is_file() and not path.is_symlink():
                    texts.append(path.read_text())
    return texts
