"""The TFTP root: stable paths, immutable version dirs, the atomic swap, clean-up and the lock.

Layout under `<root>/maas/<arch>/base/` (the first two paths are the 2012 script's):

    pxelinux.0, ldlinux.c32          -> _loader-<version>/<name>   (one relative link per file)
    <release>/install                -> install-<version>          (one relative link)
    <release>/install-<version>/     immutable: linux, initrd.gz, SHA256SUMS
    _loader-<version>/               immutable: pxelinux.0, ldlinux.c32, SHA256SUMS

`<version>` is derived from the files' names and hashes, so the same content always lands
in the same directory. A version dir appears by one rename of a complete directory built in
`maas/.staging/`; a pointer changes by one rename of a new link over the old. Links are relative
so they resolve inside tftpd's chroot. Superseded version dirs stay for a grace period, measured
from the last pointer swap, so a node mid-boot finishes with the files it started with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pxeimport.lib import (
    InvalidName,
    check_name,
    exchange,
    fsync_dir,
    link_or_copy,
    lstat_or_none,
    remove_entry,
    sha256_file,
    temporary_name,
    write_new,
)
from pxeimport.tftproot.integrity import MANIFEST, InstalledFile, check, read_manifest, record
from pxeimport.tftproot.lock import hold_lock
from pxeimport.tftproot.slots import Slot

MAAS_DIR = "maas"
STAGING_DIR = ".staging"
LOCK_FILE = ".lock"
RETIRED_MARK = ".retired"  # in an arch or release dir retired, off the menus (pxeimport.importer.retirement)
# Directories beside the release dirs that the boot menus use (pxelinux.cfg/, grub/): no release takes them.
RESERVED = frozenset({"pxelinux.cfg", "grub"})
# Superseded version dirs stay this long after the last pointer swap (PXEIMPORT_GRACE_SECONDS's default).
DEFAULT_GRACE_SECONDS = 3600.0
DIR_MODE = 0o755


class UnsafePath(Exception):
    """A path in the TFTP root is not what the importer created (e.g. a symlink where a dir goes)."""


def check_release(release: str) -> str:
    """A release name that is a safe path component and not one of the menus' directories."""
    if release in RESERVED:
        raise InvalidName(f"release name {release!r} is reserved for the boot menus' directory")
    return check_name("release", release)


@dataclass(frozen=True)
class Installed:
    """What a slot serves now. `version` is None for a layout left by the old script."""

    version: str | None
    files: dict[str, InstalledFile]


# The old script's loader files, plain files in base/ (pxelinux.0, ldlinux.c32, the UEFI ones).
OLD_LOADERS = (".0", ".c32", ".efi")


class TftpRoot:
    def __init__(self, path: Path | str, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        """`grace_seconds`: how long a superseded version dir stays after the last swap (and a replaced menu's)."""
        self.path = Path(path)
        self.grace_seconds = grace_seconds
        self.maas = self.path / MAAS_DIR
        self.staging = self.maas / STAGING_DIR
        self.lock_path = self.maas / LOCK_FILE
        # False when the root's filesystem refuses hard links (pxeimport.tftproot.probe.probe): copy instead.
        self.hard_links = True

    # Paths ---------------------------------------------------------------------------------

    def base_dir(self, arch: str) -> Path:
        return self.maas / check_name("architecture", arch) / "base"

    def arches(self, *, retired: bool = True) -> list[str]:
        """The arches with a `maas/<arch>/base/` dir (a real dir, not a symlink), sorted; `retired=False` leaves out
        those retired (off the menus, their files kept for the grace period: RETIRED_MARK in `maas/<arch>/`)."""
        bases = [p for p in self.maas.glob("*/base") if p.is_dir() and not p.is_symlink()]
        return sorted(p.parent.name for p in bases if retired or not (p.parent / RETIRED_MARK).exists())

    def install_slot(self, arch: str, release: str) -> Slot:
        return Slot(self.base_dir(arch) / check_release(release), "install", whole_dir=True)

    def installed_releases(self, arch: str) -> dict[str, str]:
        """{release: "install-<version>"} for every release of `arch` whose pointer names a complete version."""
        base = self.base_dir(arch)
        releases = {}
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except FileNotFoundError:
            return {}
        for entry in entries:
            try:
                check_name("release", entry.name)
            except InvalidName:
                continue
            if entry.name in RESERVED or not entry.is_dir(follow_symlinks=False):
                continue
            slot = self.install_slot(arch, entry.name)
            pointer = slot.parent / slot.prefix
            if not pointer.is_symlink():
                continue
            version = slot.parse_version(os.readlink(pointer))
            if version and read_manifest(slot.version_dir(version)) is not None:
                releases[entry.name] = slot.version_dir(version).name
        return releases

    def loader_slot(self, arch: str) -> Slot:
        # "_" cannot start a release name, so "_loader-*" never collides with a release dir.
        return Slot(self.base_dir(arch), "_loader", whole_dir=False)

    def ensure_dir(self, path: Path) -> Path:
        """Create `path` and its parents below the root (0755), refusing symlinks on the way.

        An existing directory on the way that others cannot enter gets o+x (tftpd runs as another
        user), except private ones (".staging"); OSError if that chmod is refused.
        """
        relative = path.relative_to(self.path)
        current = self.path
        if not current.exists():
            # Another import may make it at the same moment; the lock, not this, decides who works.
            current.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(current, DIR_MODE)  # mkdir's mode is cut by the umask; tftpd must get in
        for part in relative.parts:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(current, DIR_MODE)
                os.chmod(current, DIR_MODE)
                st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(f"{current} is a symlink; refusing to write through it")
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"{current} is not a directory")
            if not st.st_mode & stat.S_IXOTH and not part.startswith("."):
                os.chmod(current, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        return path

    def check_no_symlinks(self, path: Path) -> bool:
        """True when `path` exists below the root through directories only; UnsafePath at a symlink."""
        current = self.path
        for part in path.relative_to(self.path).parts:
            current = current / part
            st = lstat_or_none(current)
            if st is None:
                return False
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(f"{current} is a symlink; refusing to work through it")
        return True

    # Reading what is installed --------------------------------------------------------------

    def installed(self, slot: Slot, names: list[str], optional: frozenset[str] = frozenset()) -> Installed | None:
        """What `slot` serves for `names` (those in `optional` may be absent), or None when nothing usable is
        there. A pointer that is a plain directory or file (the old script's layout) is hashed, so it can
        be migrated without downloading what it already has."""
        if slot.whole_dir:
            return self._installed_dir(slot, names)
        return self._installed_files(slot, [n for n in names if n not in optional or (slot.parent / n).is_symlink()])

    def _installed_dir(self, slot: Slot, names: list[str]) -> Installed | None:
        pointer = slot.parent / slot.prefix
        st = lstat_or_none(pointer)
        if st is None:
            return None
        if stat.S_ISDIR(st.st_mode):
            return Installed(None, _hash_present(pointer, names))
        if not stat.S_ISLNK(st.st_mode):
            return None
        version = slot.parse_version(os.readlink(pointer))
        if version is None:
            return None
        files = read_manifest(slot.version_dir(version))
        return Installed(version, files) if files is not None else None

    def _installed_files(self, slot: Slot, names: list[str]) -> Installed | None:
        versions: set[str | None] = set()
        files: dict[str, InstalledFile] = {}
        for name in names:
            pointer = slot.parent / name
            st = lstat_or_none(pointer)
            if st is None:
                versions.add(None)
            elif stat.S_ISREG(st.st_mode):
                versions.add(None)
                files[name] = InstalledFile(pointer, sha256_file(pointer), hashed=True)
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(pointer)
                head, _, tail = target.partition("/")
                version = slot.parse_version(head)
                manifest = read_manifest(slot.version_dir(version)) if version and tail == name else None
                versions.add(version if manifest is not None else None)
                if manifest is not None and name in manifest:
                    files[name] = manifest[name]
        if not files:
            return None
        single = versions.pop() if len(versions) == 1 else None
        return Installed(single, files)

    def served_loaders(self, arch: str) -> set[str]:
        """The names of the pre-boot loader files `arch` serves: links in its base dir into a `_loader-<v>` dir."""
        slot = self.loader_slot(arch)
        try:
            entries = list(os.scandir(slot.parent))
        except (FileNotFoundError, NotADirectoryError):
            return set()
        served = set()
        for entry in entries:
            if entry.is_symlink():
                head, _, tail = os.readlink(entry.path).partition("/")
                version = slot.parse_version(head)
                if version is not None and tail == entry.name and slot.version_dir(version).is_dir():
                    served.add(entry.name)
        return served

    def serving(self, slot: Slot) -> str:
        """What `slot` serves now, as the operator would name it: "install-<v>", "_loader-<v>", the
        old script's files; "" when nothing (an empty root, a release never imported). Reads only."""
        try:
            entries = list(os.scandir(slot.parent))
        except (FileNotFoundError, NotADirectoryError):
            return ""
        pointers = [e for e in entries if e.name == slot.prefix] if slot.whole_dir else entries
        versions = set()
        for entry in pointers:
            if entry.is_symlink():
                version = slot.parse_version(os.readlink(entry.path).partition("/")[0])
                if version is not None and slot.version_dir(version).is_dir():
                    versions.add(slot.version_dir(version).name)
            elif slot.whole_dir and entry.is_dir(follow_symlinks=False):
                return f"the files in {slot.prefix}/ installed before pxeimport"
            elif not slot.whole_dir and entry.is_file(follow_symlinks=False) and entry.name.endswith(OLD_LOADERS):
                return "the loaders installed before pxeimport"
        return ", ".join(sorted(versions))

    # Installing ---------------------------------------------------------------------------

    def install(
        self, slot: Slot, version: str, sources: Mapping[str, Path], hashes: Mapping[str, str], *, rebuild: bool = False
    ) -> Path:
        """Make `version` of `slot` live: build its version dir if needed, then swap the pointers.

        `sources` maps each file name to a verified file on this filesystem (a staged download or
        an installed copy); it is hard-linked, never modified, or copied (and hashed) where a link
        is refused (files.link_or_copy). Pointers are swapped in the order of `sources`. `rebuild`:
        build the version dir anew even if one is there (its files are damaged); the new one takes
        the old one's place in one atomic exchange.
        """
        self.ensure_dir(slot.parent)
        version_dir = slot.version_dir(version)
        existing = read_manifest(version_dir)
        if rebuild or existing is None or {n: f.sha256 for n, f in existing.items()} != dict(hashes) or check(existing):
            self._build_version_dir(version_dir, sources, hashes)
        if slot.whole_dir:
            self._swap(slot.parent / slot.prefix, version_dir.name)
        else:
            for name in sources:
                self._swap(slot.parent / name, f"{version_dir.name}/{name}")
            self._remove_stale_pointers(slot, keep=set(sources))
        fsync_dir(slot.parent)
        return version_dir

    def _build_version_dir(self, version_dir: Path, sources: Mapping[str, Path], hashes: Mapping[str, str]) -> None:
        building = Path(tempfile.mkdtemp(prefix="build-", dir=self.staging_dir()))
        try:
            for name, source in sources.items():
                link_or_copy(source, building / name, hashes[name], hard_links=self.hard_links)
            manifest = "".join(f"{hashes[name]}  {name}\n" for name in sorted(sources))
            write_new(building / MANIFEST, manifest.encode())
            record(building, sources)  # sizes and mtimes, for every run's cheap check (pxeimport.tftproot.integrity)
            os.chmod(building, DIR_MODE)
            fsync_dir(building)
            if lstat_or_none(version_dir) is None:
                os.rename(building, version_dir)
            else:  # damaged, or not what pxeimport built: swapped out atomically, then deleted
                exchange(building, version_dir)
                with contextlib.suppress(OSError):  # what is served is already right
                    remove_entry(building)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    def _swap(self, pointer: Path, target: str) -> None:
        """Point `pointer` at relative `target` with one rename; readers see old or new, never none."""
        new_link = temporary_name(pointer)
        os.symlink(target, new_link)
        st = lstat_or_none(pointer)
        if st is not None and stat.S_ISDIR(st.st_mode):
            # The old script's plain directory: rename(2) cannot put a link over it, so exchange
            # the two atomically and delete the directory from its new name.
            exchange(new_link, pointer)
            shutil.rmtree(new_link)
        else:
            os.rename(new_link, pointer)

    def _remove_stale_pointers(self, slot: Slot, keep: set[str]) -> None:
        for entry in os.scandir(slot.parent):
            if entry.name in keep or not entry.is_symlink():
                continue
            head = os.readlink(entry.path).partition("/")[0]
            if slot.parse_version(head) is not None:
                os.unlink(entry.path)

    # Clean-up -----------------------------------------------------------------------------

    def collect_garbage(
        self,
        slot: Slot,
        now: float | None = None,
        protected: frozenset[str] = frozenset(),
        *,
        dry: bool = False,
        swapping: bool = False,
    ) -> list[Path]:
        """Delete version dirs no pointer names once the grace period has passed; return them.

        Names in `protected` (version dirs a recent boot menu named) are kept whatever their age.
        `dry`: delete nothing, return what would go; `swapping`: as after a pointer swap `now` (a dry
        run's planned install: the swap restarts the grace period, so only crash debris would go).

        The clock starts at the newest pointer swap (a link's own mtime is when it was made) and
        at the version dir's own mtime, whichever is later. Crash debris (half-made links, an old
        directory left by an interrupted exchange) goes at once.
        """
        now = time.time() if now is None else now
        if not self.check_no_symlinks(slot.parent):
            return []
        entries = list(os.scandir(slot.parent))
        live: set[str] = set()
        last_swap = 0.0
        for entry in entries:
            if not entry.is_symlink():
                continue
            head = os.readlink(entry.path).partition("/")[0]
            version = slot.parse_version(head)
            if version is not None:
                live.add(version)
                last_swap = max(last_swap, entry.stat(follow_symlinks=False).st_mtime)
        removed = []
        for entry in entries:
            if entry.name.startswith(f".{slot.prefix}.new-") or (
                not slot.whole_dir and ".new-" in entry.name and entry.name.startswith(".")
            ):
                if not dry:
                    remove_entry(Path(entry.path))
                removed.append(Path(entry.path))
                continue
            version = slot.parse_version(entry.name)
            if version is None or version in live or entry.name in protected:
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
            age = now - max(now if swapping else last_swap, entry.stat(follow_symlinks=False).st_mtime)
            if age >= self.grace_seconds:
                if not dry:
                    shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
        return removed

    def staging_dir(self) -> Path:
        """The staging dir (0700: tftpd, running as another user, never serves a partial file)."""
        self.ensure_dir(self.staging)
        os.chmod(self.staging, 0o700)
        return self.staging

    def new_staging_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="fetch-", dir=self.staging_dir()))

    def clean_staging(self, *, dry: bool = False) -> int:
        """Remove what a crashed run left in staging; how many went (`dry`: would go; 0 if unreadable: preflight)."""
        if not self.check_no_symlinks(self.staging):
            return 0
        if dry and not os.access(self.staging, os.R_OK | os.X_OK):
            return 0
        count = 0
        for entry in os.scandir(self.staging):
            if not dry:
                remove_entry(Path(entry.path))
            count += 1
        return count

    # The lock -----------------------------------------------------------------------------

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the root's lock (flock: the kernel releases it when the process dies); LockHeld if taken."""
        self.ensure_dir(self.maas)
        return hold_lock(self.lock_path)


def _hash_present(directory: Path, names: list[str]) -> dict[str, InstalledFile]:
    files = {}
    for name in names:
        path = directory / name
        st = lstat_or_none(path)
        if st is not None and stat.S_ISREG(st.st_mode):
            files[name] = InstalledFile(path, sha256_file(path), hashed=True)
    return files
