"""One import: plan the items, fetch their indexes, download what changed, install, report.

No Django here: the caller hands in sources, a TFTP root and a fetcher, and gets each item's
result through a callback as soon as it is done (so records are written per atomic install).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pxeimport import freshness
from pxeimport.archive import debian_installer, ubuntu_netboot
from pxeimport.archive.debian_installer import LayoutError, NetbootIndex, RemoteFile
from pxeimport.archive.release import ReleaseFormatError
from pxeimport.checksums import ChecksumIndexError
from pxeimport.fetch import Fetcher, FetchError, NotFound
from pxeimport.freshness import FreshnessStore
from pxeimport.menus import BadKernelOptions, MenuEntry, check_kernel_opts, grub_config, pxelinux_config
from pxeimport.names import InvalidName, check_name
from pxeimport.once import Once
from pxeimport.signatures import SignatureError
from pxeimport.tarball import TarballError, extract
from pxeimport.tftproot import (
    GRUB_MENU,
    PXELINUX_MENU,
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
INDEX_ERRORS = (
    FetchError,
    LayoutError,
    ChecksumIndexError,
    SignatureError,
    ReleaseFormatError,
    InvalidName,
    TarballError,
)


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
    layout: str = debian_installer.NAME
    # ubuntu-netboot: where nodes download the live-server ISO from (a local mirror); None: upstream.
    iso_base_url: str | None = None
    # HTTP proxy for this source's URLs; None: http_proxy/https_proxy/no_proxy from the environment.
    proxy: str | None = None
    # Accept a Release past its Valid-Until (a frozen private mirror); every run warns.
    allow_expired_indexes: bool = False


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


# Written into a version dir of the ubuntu-netboot layout: the kernel options its ISO download needs.
BOOT_OPTIONS_FILE = "boot-options"


@dataclass(frozen=True)
class Wanted:
    """What one item needs, whatever the layout: files to fetch, members of a tarball, generated ones.

    `identity` names each file by what determines its bytes (its listed hash; the tarball's hash and
    the member path; the generated content's hash), so the version is known before any download.
    """

    files: list[RemoteFile] = field(default_factory=list)
    tarball: RemoteFile | None = None
    members: dict[str, str] = field(default_factory=dict)
    generated: dict[str, bytes] = field(default_factory=dict)
    signed_by: str = ""
    skip: str = ""

    @property
    def identity(self) -> dict[str, str]:
        identity = {f.name: f.sha256 for f in self.files}
        if self.tarball is not None:
            identity |= {name: f"{self.tarball.sha256}:{member}" for name, member in self.members.items()}
        return identity | {name: hashlib.sha256(data).hexdigest() for name, data in self.generated.items()}

    def origin(self, name: str) -> str:
        for f in self.files:
            if f.name == name:
                return f.url
        if self.tarball is not None and name in self.members:
            return f"{self.tarball.url}#{self.members[name]}"
        return "generated by pxeimport"


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
        jobs: int = 4,
        max_file_bytes: int = 4 << 30,
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.root = root
        self.jobs = jobs
        self.max_file_bytes = max_file_bytes
        # progress(label, bytes so far, total or None), called from download threads.
        self.progress = progress
        self.menus = menus or MenuSettings()
        self.menu_results: list[MenuResult] = []
        self.fetcher = fetcher
        self.grace_seconds = grace_seconds
        self.on_result = on_result
        self.clock = clock
        self._indexes: Once[tuple[str, str, str], tuple[NetbootIndex, str]] = Once()
        self._ubuntu_indexes: Once[tuple[str, str, str], tuple[ubuntu_netboot.NetbootRelease, str]] = Once()
        self._verifiers: Once[Source, IndexVerifier] = Once()
        # One download per distinct file (by hash) per run, shared by every item that needs it.
        self._downloads: dict[str, Future[Path]] = {}
        self._downloads_lock = threading.Lock()
        self._download_pool: ThreadPoolExecutor | None = None
        self._staging: Path | None = None
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
        # Items run in parallel (index fetches, decisions, installs); their files download in a
        # second pool, so `jobs` bounds the connections. Results are reported in plan order, in
        # this thread, as soon as each and those before it are done.
        items_pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pxeimport-item")
        self._download_pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pxeimport-fetch")
        self._staging = None
        try:
            futures = [items_pool.submit(self._run_item, item, dry_run=dry_run) for item in items]
            for future in futures:
                result = future.result()
                results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
        except BaseException:
            # Stopped (a signal) or a recording error: in-flight downloads end at their next chunk
            # and no further item is installed.
            self.fetcher.cancel()
            raise
        finally:
            items_pool.shutdown(wait=True, cancel_futures=True)
            self._download_pool.shutdown(wait=True, cancel_futures=True)
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
        if not dry_run:
            now = self.clock()
            self.menu_results = [self._write_menus(items, arch, now) for arch in dict.fromkeys(i.arch for i in items)]
            try:
                self.root.write_grub_redirects()
            except (OSError, UnsafePath) as exc:
                self.menu_results.append(MenuResult("all", [], error=f"GRUB's fixed grub.cfg paths: {exc}"))
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
            entries = [self._menu_entry(arch, r, installed[r], planned.get(r)) for r in order]
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

    def _menu_entry(self, arch: str, release: str, version_dir: str, item: Item | None) -> MenuEntry:
        """An entry for what a version dir holds: its initrd's name, and the boot options it carries."""
        directory = self.root.base_dir(arch) / release / version_dir
        initrd = "initrd.gz" if (directory / "initrd.gz").is_file() else "initrd"
        options = directory / BOOT_OPTIONS_FILE
        carried = options.read_text().strip() if options.is_file() else ""
        opts = " ".join(filter(None, [carried, self._kernel_opts(item)]))
        return MenuEntry(release, version_dir, initrd=initrd, kernel_opts=opts)

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
            reason = str(exc)
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in reason:
                reason = f"{reason}: {exc.filename}"  # a disk error says where
            return ItemResult(item, Outcome.FAILED, message=f"{reason}; kept what was installed")

    def _import(self, item: Item, *, dry_run: bool) -> ItemResult:
        wanted = self._wanted(item)
        if wanted.skip:
            return ItemResult(item, Outcome.SKIPPED, message=wanted.skip)
        slot = self._slot(item)
        version = version_id(wanted.identity)
        installed = self.root.installed(slot, list(wanted.identity))
        previous = installed.version if installed else None
        if installed and previous == version and set(installed.files) == set(wanted.identity):
            files = [
                FileResult(name, f.sha256, wanted.origin(name), f.path.stat().st_size, downloaded=False)
                for name, f in installed.files.items()
            ]
            return ItemResult(
                item,
                Outcome.UNCHANGED,
                version=version,
                previous_version=previous,
                files=files,
                signed_by=wanted.signed_by,
            )
        # A file whose listed hash is what is installed is linked into the new version, not fetched.
        reuse = {
            f.name: installed.files[f.name].path
            for f in wanted.files
            if installed and f.name in installed.files and installed.files[f.name].sha256 == f.sha256
        }
        if dry_run:
            # Sizes by HEAD, so the plan says how many bytes a real run would move.
            files = [
                FileResult(f.name, f.sha256, f.url, self.fetcher.size(f.url), downloaded=True)
                for f in wanted.files
                if f.name not in reuse
            ]
            if wanted.tarball is not None:
                t = wanted.tarball
                files.append(FileResult(t.name, t.sha256, t.url, self.fetcher.size(t.url), downloaded=True))
            return ItemResult(
                item,
                Outcome.PLANNED,
                version=version,
                previous_version=previous,
                files=files,
                signed_by=wanted.signed_by,
            )
        result = self._install(item, slot, version, previous, wanted, reuse)
        result.signed_by = wanted.signed_by
        return result

    def _install(
        self, item: Item, slot: Slot, version: str, previous: str | None, wanted: Wanted, reuse: dict[str, Path]
    ) -> ItemResult:
        label = f"{item.arch}/{item.release}" if item.kind == INSTALL else f"{item.arch} loaders"
        pending = {f.name: self._download(f, f"{label} {f.name}") for f in wanted.files if f.name not in reuse}
        packed = self._download(wanted.tarball, f"{label} {wanted.tarball.name}") if wanted.tarball else None
        sources: dict[str, Path] = {}
        hashes: dict[str, str] = {}
        files: list[FileResult] = []
        pulled = 0
        for f in wanted.files:
            path = reuse[f.name] if f.name in reuse else pending[f.name].result()  # a failed download raises
            size = path.stat().st_size
            sources[f.name], hashes[f.name] = path, f.sha256
            pulled += 0 if f.name in reuse else size
            files.append(FileResult(f.name, f.sha256, f.url, size, f.name not in reuse))
        unpacked = self._item_dir(item)
        if packed is not None and wanted.tarball is not None:
            tarball = packed.result()
            pulled += tarball.stat().st_size
            for name, got in extract(tarball, wanted.members, unpacked, max_bytes=self.max_file_bytes).items():
                sources[name], hashes[name] = got.path, got.sha256
                origin = f"{wanted.tarball.url}#{wanted.members[name]}"
                files.append(FileResult(name, got.sha256, origin, got.size, True))
        for name, content in wanted.generated.items():
            path = unpacked / name
            path.write_bytes(content)
            sources[name], hashes[name] = path, hashlib.sha256(content).hexdigest()
            files.append(FileResult(name, hashes[name], "generated by pxeimport", len(content), False))
        if self.fetcher.cancelled:
            raise FetchError(item.source.url, "the run was stopped before this item was installed")
        order = [n for n in wanted.identity if n in sources]
        path = self.root.install(slot, version, {n: sources[n] for n in order}, hashes)
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

    def _item_dir(self, item: Item) -> Path:
        """A fresh directory in this run's staging for files an item makes (unpacked, generated)."""
        with self._downloads_lock:
            if self._staging is None:
                self._staging = self.root.new_staging_dir()
        return Path(tempfile.mkdtemp(prefix=f"{item.kind}-", dir=self._staging))

    def _wanted(self, item: Item) -> Wanted:
        if item.source.layout == ubuntu_netboot.NAME:
            return self._wanted_ubuntu(item)
        index, signed_by = self._index(item)
        if item.kind == LOADER:
            remote = index.loader_files()
            if not remote:
                return Wanted(skip=f"no pre-boot loader in {index.images_url}")
        else:
            remote = index.install_files()
        return Wanted(files=remote, signed_by=signed_by)

    def _wanted_ubuntu(self, item: Item) -> Wanted:
        offer, signed_by = self._ubuntu_index(item)
        if item.kind == LOADER:
            members = ubuntu_netboot.loader_members(item.arch)
            if not members:
                return Wanted(skip=f"no pre-boot loader known for {item.arch} in {offer.tarball.url}")
            generated: dict[str, bytes] = {}
        else:
            members = ubuntu_netboot.install_members(item.arch)
            options = offer.boot_options(item.source.iso_base_url)
            generated = {BOOT_OPTIONS_FILE: (options + "\n").encode()}
        return Wanted(tarball=offer.tarball, members=members, generated=generated, signed_by=signed_by)

    def _ubuntu_index(self, item: Item) -> tuple[ubuntu_netboot.NetbootRelease, str]:
        def fetch() -> tuple[ubuntu_netboot.NetbootRelease, str]:
            url = ubuntu_netboot.release_url(item.source.url, item.release)
            index_url = url + ubuntu_netboot.INDEX_NAME
            data = self.fetcher.get_bytes(index_url)
            signed_by = ""
            if item.source.verify_signatures:
                signed_by = self._verifier(item.source).verify_detached_index(index_url, data)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FetchError(index_url, "index is not UTF-8 text") from exc
            return ubuntu_netboot.parse_index(text, url=url, arch=item.arch), signed_by

        return self._ubuntu_indexes.get((item.source.url, item.release, item.arch), fetch)

    def _slot(self, item: Item) -> Slot:
        if item.kind == LOADER:
            return self.root.loader_slot(item.arch)
        return self.root.install_slot(item.arch, item.release)

    def _download(self, remote: RemoteFile, label: str) -> Future[Path]:
        """The verified download of `remote`, shared by every item wanting the same bytes this run."""
        assert self._download_pool is not None

        with self._downloads_lock:
            # Made on first use, so a full disk fails the items that need it, not the whole run.
            if self._staging is None:
                self._staging = self.root.new_staging_dir()
            staging = self._staging

            def fetch() -> Path:
                report = None
                if self.progress is not None:
                    progress = self.progress

                    def report(done: int, total: int | None) -> None:
                        progress(label, done, total)

                return self.fetcher.download(remote.url, staging / remote.sha256, remote.sha256, report).path

            if remote.sha256 not in self._downloads:
                self._downloads[remote.sha256] = self._download_pool.submit(fetch)
            return self._downloads[remote.sha256]

    def _index(self, item: Item) -> tuple[NetbootIndex, str]:
        """The item's verified, parsed index and its signer, fetched once per (source, release, arch)."""
        return self._indexes.get((item.source.url, item.release, item.arch), lambda: self._fetch_index(item))

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
        return self._verifiers.get(
            source,
            lambda: IndexVerifier(
                self.fetcher,
                source.url,
                source.keyrings,
                source.keyring_hint,
                allow_expired=source.allow_expired_indexes,
                # A dry run (its index cache read-only) must not write the root either.
                freshness=FreshnessStore(
                    self.root.maas / ".cache" / freshness.FILE_NAME,
                    writable=self.fetcher.index_cache is None or self.fetcher.index_cache.writable,
                ),
                clock=self.clock,
            ),
        )

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
