"""One import: plan the items, fetch their indexes, download what changed, install, report.

No Django here: the caller hands in sources, a TFTP root and a fetcher, and gets each item's
result through a callback as soon as it is done (so records are written per atomic install).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pxeimport.archive import debian_installer
from pxeimport.archive.debian_installer import LayoutError, NetbootIndex, RemoteFile
from pxeimport.archive.release import ReleaseFormatError
from pxeimport.checksums import ChecksumIndexError
from pxeimport.fetch import Fetcher, FetchError, NotFound
from pxeimport.menus import BadKernelOptions, MenuEntry, check_kernel_opts, grub_config, pxelinux_config
from pxeimport.names import InvalidName, check_name
from pxeimport.signatures import SignatureError
from pxeimport.tftproot import (
    GRUB_MENU,
    PXELINUX_MENU,
    Installed,
    Slot,
    TftpRoot,
    UnsafePath,
    check_release,
    version_id,
)
from pxeimport.trust import IndexVerifier

log = logging.getLogger(__name__)

LOADER = "loader"
INSTALL = "install"

# What makes one item fail (and the others go on), as opposed to a bug.
INDEX_ERRORS = (FetchError, LayoutError, ChecksumIndexError, SignatureError, ReleaseFormatError, InvalidName)


@dataclass(frozen=True)
class Source:
    """An archive to import from. `key` is the caller's handle (a database id), carried through.

    Its indexes must be signed by a key in `keyrings` unless `verify_signatures` is off;
    `keyring_hint` says where a missing keyring comes from (a Debian package).
    """

    name: str
    url: str
    installer_dir: str | None = None
    key: int | None = None
    keyrings: tuple[Path, ...] = ()
    keyring_hint: str = ""
    verify_signatures: bool = True


@dataclass(frozen=True)
class Item:
    """One atomic install: an arch's pre-boot loader, or one release's kernel and initrd."""

    source: Source
    arch: str
    release: str
    kind: str
    # For a release: the extra kernel options its boot menu entries get.
    kernel_opts: str = ""

    def __str__(self) -> str:
        if self.kind == LOADER:
            return f"{self.arch} pre-boot loader (from {self.release})"
        return f"{self.arch}/{self.release} install"


@dataclass(frozen=True)
class Selection:
    """What to import from one source. `kernel_opts` maps a release to its menu entries' options."""

    source: Source
    arches: tuple[str, ...]
    releases: tuple[str, ...]
    current_release: str
    kernel_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MenuSettings:
    timeout_seconds: int = 5
    # When set, every menu entry this run writes gets these options instead of the saved ones.
    kernel_opts: str | None = None


@dataclass
class MenuResult:
    """The boot menus of one arch after a run."""

    arch: str
    changed: list[str]
    default: str = ""
    releases: list[str] = field(default_factory=list)
    error: str = ""


class Outcome(StrEnum):
    INSTALLED = "installed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    PLANNED = "planned"


@dataclass(frozen=True)
class FileResult:
    name: str
    sha256: str
    url: str
    size: int | None
    downloaded: bool


@dataclass
class ItemResult:
    item: Item
    outcome: Outcome
    message: str = ""
    version: str | None = None
    previous_version: str | None = None
    files: list[FileResult] = field(default_factory=list)
    bytes_downloaded: int = 0
    path: Path | None = None
    # Fingerprint of the key whose signature vouched for the index; "" when checks are off.
    signed_by: str = ""

    @property
    def to_download(self) -> list[FileResult]:
        return [f for f in self.files if f.downloaded]


def plan(selections: Iterable[Selection]) -> list[Item]:
    """Items in a stable order: per source and arch, the loader first, then each release.

    Names are validated here, so a bad one fails before any network or disk work.
    """
    items: list[Item] = []
    seen: set[tuple[str, str, str]] = set()
    for sel in selections:
        for arch in sel.arches:
            check_name("architecture", arch)
            wanted = [Item(sel.source, arch, check_name("release", sel.current_release), LOADER)]
            wanted += [
                Item(sel.source, arch, check_release(r), INSTALL, check_kernel_opts(sel.kernel_opts.get(r, "")))
                for r in sel.releases
            ]
            for item in wanted:
                # Two sources may not both fill the same place in the TFTP root: the first wins.
                key = (item.arch, item.kind, item.release if item.kind == INSTALL else "")
                if key not in seen:
                    seen.add(key)
                    items.append(item)
    return items


class Importer:
    def __init__(
        self,
        root: TftpRoot,
        fetcher: Fetcher,
        *,
        grace_seconds: float,
        on_result: Callable[[ItemResult], None] | None = None,
        clock: Callable[[], float] = time.time,
        menus: MenuSettings | None = None,
    ) -> None:
        self.root = root
        self.menus = menus or MenuSettings()
        self.menu_results: list[MenuResult] = []
        self.fetcher = fetcher
        self.grace_seconds = grace_seconds
        self.on_result = on_result
        self.clock = clock
        self._indexes: dict[tuple[str, str, str], tuple[NetbootIndex, str] | Exception] = {}
        self._verifiers: dict[Source, IndexVerifier] = {}
        # The results so far, readable when a run is stopped part-way.
        self.results: list[ItemResult] = []

    def run(self, items: list[Item], *, dry_run: bool = False) -> list[ItemResult]:
        """Import every item, going past failures. The caller holds the root's lock (unless dry)."""
        if not dry_run:
            leftovers = self.root.clean_staging()
            if leftovers:
                log.info("removed %d leftover staging entries from an earlier run", leftovers)
        self.results = []
        results = self.results
        for item in items:
            result = self._run_item(item, dry_run=dry_run)
            results.append(result)
            if self.on_result is not None:
                self.on_result(result)
        if not dry_run:
            now = self.clock()
            self.menu_results = [self._write_menus(items, arch, now) for arch in dict.fromkeys(i.arch for i in items)]
            self._collect_garbage(results, now)
        return results

    def _write_menus(self, items: list[Item], arch: str, now: float) -> MenuResult:
        """Rewrite `arch`'s menus from what is installed now: one entry per release, by version path."""
        try:
            installed = self.root.installed_releases(arch)
            if not installed:
                return MenuResult(arch, [])
            planned = {i.release: i for i in items if i.arch == arch and i.kind == INSTALL}
            order = [r for r in planned if r in installed] + sorted(set(installed) - set(planned))
            entries = [MenuEntry(r, installed[r], kernel_opts=self._kernel_opts(planned.get(r))) for r in order]
            loaders = [i for i in items if i.arch == arch and i.kind == LOADER]
            default = loaders[0].release if loaders and loaders[0].release in installed else order[0]
            base = "/" + self.root.base_dir(arch).relative_to(self.root.path).as_posix()
            texts = {
                PXELINUX_MENU: pxelinux_config(entries, default, self.menus.timeout_seconds),
                GRUB_MENU: grub_config(entries, default, self.menus.timeout_seconds, base),
            }
            changed = self.root.write_menus(arch, texts, now, self.grace_seconds)
            return MenuResult(arch, changed, default, order)
        except (OSError, UnsafePath, BadKernelOptions) as exc:
            return MenuResult(arch, [], error=f"{arch} boot menus: {exc}; the previous menus stay")

    def _kernel_opts(self, item: Item | None) -> str:
        if self.menus.kernel_opts is not None:
            return self.menus.kernel_opts
        return item.kernel_opts if item else ""

    def _run_item(self, item: Item, *, dry_run: bool) -> ItemResult:
        try:
            return self._import(item, dry_run=dry_run)
        except (*INDEX_ERRORS, UnsafePath, OSError) as exc:
            # For the journal and cron mail: which item, from where, and why (also as fields in `extra`).
            fields = {"source": item.source.name, "arch": item.arch, "release": item.release}
            fields |= {"url": getattr(exc, "url", item.source.url), "reason": str(exc)}
            log.warning("%s failed: source=%s arch=%s release=%s url=%s: %s", item, *fields.values(), extra=fields)
            return ItemResult(item, Outcome.FAILED, message=f"{exc}; kept what was installed")

    def _import(self, item: Item, *, dry_run: bool) -> ItemResult:
        index, signed_by = self._index(item)
        if item.kind == LOADER:
            remote = index.loader_files()
            if not remote:
                return ItemResult(item, Outcome.SKIPPED, message=f"no pre-boot loader in {index.images_url}")
        else:
            remote = index.install_files()
        slot = self._slot(item)

        hashes = {f.name: f.sha256 for f in remote}
        version = version_id(hashes)
        installed = self.root.installed(slot, list(hashes))
        previous = installed.version if installed else None
        if installed and previous == version and set(installed.files) == set(hashes):
            files = [_file_result(f, installed, downloaded=False) for f in remote]
            return ItemResult(
                item, Outcome.UNCHANGED, version=version, previous_version=previous, files=files, signed_by=signed_by
            )

        reuse = {
            f.name: installed.files[f.name].path
            for f in remote
            if installed and f.name in installed.files and installed.files[f.name].sha256 == f.sha256
        }
        if dry_run:
            files = [FileResult(f.name, f.sha256, f.url, None, downloaded=f.name not in reuse) for f in remote]
            return ItemResult(
                item, Outcome.PLANNED, version=version, previous_version=previous, files=files, signed_by=signed_by
            )
        result = self._install(item, slot, version, previous, remote, reuse)
        result.signed_by = signed_by
        return result

    def _install(
        self,
        item: Item,
        slot: Slot,
        version: str,
        previous: str | None,
        remote: list[RemoteFile],
        reuse: dict[str, Path],
    ) -> ItemResult:
        staging = self.root.new_staging_dir()
        try:
            sources: dict[str, Path] = {}
            files: list[FileResult] = []
            pulled = 0
            for f in remote:
                if f.name in reuse:
                    sources[f.name] = reuse[f.name]
                    files.append(FileResult(f.name, f.sha256, f.url, reuse[f.name].stat().st_size, False))
                    continue
                got = self.fetcher.download(f.url, staging / f.name, f.sha256)
                sources[f.name] = got.path
                pulled += got.size
                files.append(FileResult(f.name, f.sha256, f.url, got.size, True))
            path = self.root.install(slot, version, sources, {f.name: f.sha256 for f in remote})
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("%s: installed version %s (was %s)", item, version, previous or "none")
        return ItemResult(
            item,
            Outcome.INSTALLED,
            version=version,
            previous_version=previous,
            files=files,
            bytes_downloaded=pulled,
            path=path,
        )

    def _slot(self, item: Item) -> Slot:
        if item.kind == LOADER:
            return self.root.loader_slot(item.arch)
        return self.root.install_slot(item.arch, item.release)

    def _index(self, item: Item) -> tuple[NetbootIndex, str]:
        """The item's verified, parsed index and its signer, fetched once per (source, release, arch)."""
        key = (item.source.url, item.release, item.arch)
        if key not in self._indexes:
            try:
                self._indexes[key] = self._fetch_index(item)
            except INDEX_ERRORS as exc:
                self._indexes[key] = exc
        cached = self._indexes[key]
        if isinstance(cached, Exception):
            raise cached
        return cached

    def _fetch_index(self, item: Item) -> tuple[NetbootIndex, str]:
        source = item.source
        urls = debian_installer.images_urls(source.url, item.release, item.arch)
        first_miss: NotFound | None = None
        for images_url, release_path in zip(urls, debian_installer.release_paths(item.release, item.arch), strict=True):
            index_url = images_url + debian_installer.INDEX_NAME
            try:
                data = self.fetcher.get_bytes(index_url)
            except NotFound as exc:
                first_miss = first_miss or exc
                continue
            signed_by = ""
            if source.verify_signatures:
                signed_by = self._verifier(source).verify(item.release, release_path, index_url, data)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FetchError(index_url, "index is not UTF-8 text") from exc
            index = debian_installer.parse_index(
                text, images_url=images_url, arch=item.arch, installer_dir=source.installer_dir
            )
            return index, signed_by
        assert first_miss is not None
        also = ", ".join(u + debian_installer.INDEX_NAME for u in urls[1:])
        raise FetchError(first_miss.url, f"{first_miss.reason}; also tried {also}", status=first_miss.status)

    def _verifier(self, source: Source) -> IndexVerifier:
        if source not in self._verifiers:
            self._verifiers[source] = IndexVerifier(self.fetcher, source.url, source.keyrings, source.keyring_hint)
        return self._verifiers[source]

    def _collect_garbage(self, results: list[ItemResult], now: float) -> None:
        protected: dict[str, set[str]] = {}
        for result in results:
            if result.outcome not in (Outcome.INSTALLED, Outcome.UNCHANGED):
                continue
            item = result.item
            slot = self._slot(item)
            try:
                keep: frozenset[str] = frozenset()
                if item.kind == INSTALL:
                    if item.arch not in protected:
                        protected[item.arch] = self.root.menu_protected(item.arch, now, self.grace_seconds)
                    prefix = f"{item.release}/"
                    keep = frozenset(p.removeprefix(prefix) for p in protected[item.arch] if p.startswith(prefix))
                for path in self.root.collect_garbage(slot, self.grace_seconds, now, keep):
                    log.info("removed superseded %s", path)
            except OSError as exc:
                log.warning("could not clean %s: %s", slot.parent, exc)


def _file_result(remote: RemoteFile, installed: Installed, *, downloaded: bool) -> FileResult:
    path = installed.files[remote.name].path
    return FileResult(remote.name, remote.sha256, remote.url, path.stat().st_size, downloaded)
