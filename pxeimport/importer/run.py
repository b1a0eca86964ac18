"""One import: ask each item's layout what it wants, download what changed, install, write menus, clean up.

No Django here, and no knowledge of any archive: layouts (pxeimport.layouts) say which files an
item needs, with verified hashes; this module fetches them (one download per distinct file per
run, bounded in parallel), installs each item atomically into the TFTP root, reports each result
through a callback as soon as it is done (so records are written per atomic install), then
rewrites the boot menus and collects what the grace period no longer protects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pxeimport.extraction import DebError, IsoImageError, TarballError
from pxeimport.fetching import Fetcher, FetchError
from pxeimport.importer import containers, loadersets
from pxeimport.importer.downloads import Downloads, Progress
from pxeimport.importer.housekeeping import Housekeeping
from pxeimport.importer.httpcopies import check_copies, kept, to_keep
from pxeimport.importer.text import what_stays
from pxeimport.items import FileResult, Item, ItemKind, ItemResult, Outcome, Source
from pxeimport.layouts import Container, Layout, LayoutError, NotOffered, Wanted, get_layout
from pxeimport.lib import InvalidName, Once, sha256_file
from pxeimport.menus import BOOT_OPTIONS_FILE, MENU_ENTRIES_FILE, BootMenus, MenuResult, MenuSettings
from pxeimport.tftproot import (
    VERSION_LENGTH,
    Capabilities,
    HttpRoot,
    HttpRootError,
    InstalledFile,
    Slot,
    TftpRoot,
    UnsafePath,
    check,
    probe,
    version_id,
)
from pxeimport.trust import (
    FILE_NAME,
    ChecksumIndexError,
    FreshnessStore,
    IndexVerifier,
    ReleaseFormatError,
    SignatureError,
)

log = logging.getLogger(__name__)

# What makes one item fail (and the others go on), as opposed to a bug.
INDEX_ERRORS = (
    FetchError,
    LayoutError,
    ChecksumIndexError,
    SignatureError,
    ReleaseFormatError,
    InvalidName,
    TarballError,
    IsoImageError,
    DebError,
    HttpRootError,
)

# Below the root's maas/: the newest trusted Date of each signed index (pxeimport.trust.freshness).
FRESHNESS_FILE = f".cache/{FILE_NAME}"


class Importer:
    def __init__(
        self,
        root: TftpRoot,
        fetcher: Fetcher,
        *,
        on_result: Callable[[ItemResult], None] | None = None,
        clock: Callable[[], float] = time.time,
        menus: MenuSettings | None = None,
        jobs: int = 4,
        max_file_bytes: int = 4 << 30,
        progress: Progress | None = None,
        protect: Callable[[Slot], frozenset[str]] | None = None,
        verify: bool = False,
        accept_loader_change: bool = False,
        retire: bool = False,
        http_root: HttpRoot | None = None,
    ) -> None:
        """`verify`: hash every served file of the planned items (not only those whose size or mtime
        changed) before calling it unchanged (pxeimport.tftproot.integrity). `retire`: the items are the whole
        saved selection; what they do not name is retired (pxeimport.importer.retirement)."""
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.root = root
        self.fetcher = fetcher
        self.jobs = jobs
        self.max_file_bytes = max_file_bytes
        self.progress = progress
        self.verify = verify
        self.accept_loader_change = accept_loader_change
        self.retire = retire
        # What this run did (a dry run: would do) besides installing, one line each, for the operator.
        self.housekeeping: list[str] = []
        self.http_root = http_root
        self.downloads = Downloads(root, fetcher, jobs, progress)
        self.menus = BootMenus(root, menus)
        self.menu_results: list[MenuResult] = []
        self.on_result = on_result
        self.clock = clock
        # Version dir names clean-up must keep besides the menus' (a region's published ones).
        self.protect = protect
        self._layouts: Once[str, Layout] = Once()
        self._verifiers: Once[Source, IndexVerifier] = Once()
        self._dry_run = False
        # The results so far, readable when a run is stopped part-way.
        self.results: list[ItemResult] = []
        self.capabilities: Capabilities | None = None
        self.cleanup = Housekeeping(root, self.menus, self.downloads, self._slot, http_root, protect)

    def run(self, items: list[Item], *, dry_run: bool = False) -> list[ItemResult]:
        """Import every item, going past failures. The caller holds the root's lock (unless dry).

        RootUnusable (an UnsafePath), before any download, for a root that cannot work or that tftpd
        could not read; and after the menus, if what tftpd reads cannot be opened up to it.
        """
        if not dry_run:
            self.capabilities = probe(self.root)
            log.info("TFTP root: %s", self.capabilities)
        self.housekeeping = self.cleanup.before(dry=dry_run)
        self.results = []
        self._dry_run = dry_run
        results = self.results
        # Items run in parallel (index fetches, decisions, installs); their files download in a
        # second pool, so `jobs` bounds the connections. Results are reported in plan order, in
        # this thread, as soon as each and those before it are done.
        items_pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pxeimport-item")
        self.downloads.open()
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
            self.downloads.close()
        now = self.clock()
        gone: list[Path] = []
        # A dry run's menus and retirements: as if its planned installs were done; nothing written.
        pending = {
            (r.item.arch, r.item.release): r.version
            for r in results
            if r.outcome == Outcome.PLANNED and r.item.kind == ItemKind.INSTALL and r.version
        }
        held: set[tuple[str, str]] = set()
        refused = [r.item for r in results if r.not_offered]
        if self.retire and refused:
            # A selection naming what its source does not offer is refused whole: it retires nothing.
            what = ", ".join(sorted({f"{i.arch}/{i.release}" for i in refused}))
            self.housekeeping.append(
                f"retired nothing: the saved selection names what its source does not offer ({what}); fix it first"
            )
        elif self.retire:
            retired = self.cleanup.retire(items, now, dry=dry_run, gone=gone, pending=pending if dry_run else ())
            self.housekeeping += retired.said
            held = retired.held
        if (refused or not self.retire) and not dry_run:  # what it serves of the selection goes back on the menus
            ok = (Outcome.INSTALLED, Outcome.UNCHANGED)
            self.housekeeping += self.cleanup.unmark_served([r.item for r in results if r.outcome in ok])
        self.menu_results = self.menus.write(
            items, now, only_planned=self.retire and not refused, pending=pending if dry_run else None, held=held
        )
        self.housekeeping += self.cleanup.after(results, now, dry=dry_run, gone=gone)
        if not dry_run:
            self.housekeeping += self.cleanup.open_up(dry=False)  # what this run made, if anything
        return results

    def _run_item(self, item: Item, *, dry_run: bool) -> ItemResult:
        try:
            return self._import(item, dry_run=dry_run)
        except (*INDEX_ERRORS, UnsafePath, OSError) as exc:
            reason = str(exc)
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in reason:
                reason = f"{reason}: {exc.filename}"  # a disk error says where
            # The command says each failure once on stderr; the journal gets the fields at INFO.
            fields = {"source": item.source.name, "arch": item.arch, "release": item.release}
            fields |= {"url": getattr(exc, "url", None) or _origin(item), "reason": reason}
            log.info("%s failed: source=%s arch=%s release=%s url=%s: %s", item, *fields.values(), extra=fields)
            url = fields["url"]
            where = "" if url in reason else f"{url}: "
            source = f"boot source {item.source.name!r}"
            tag = "" if source in reason else f" [{source}]"
            kept = self._serving(item)
            failed = ItemResult(item, Outcome.FAILED, kept=kept, previous_version=_version_of(kept))
            failed.not_offered = isinstance(exc, NotOffered)
            failed.message = f"{where}{reason}{tag}; {what_stays(failed)}"
            return failed

    def _serving(self, item: Item) -> str:
        """What the item's place serves now, for a failure's message; "" when nothing or unreadable."""
        try:
            return self.root.serving(self._slot(item))
        except (OSError, InvalidName):
            return ""

    def _layout(self, source: Source) -> Layout:
        """This run's instance of the source's layout (one per layout: it caches the indexes it read)."""
        return self._layouts.get(
            source.layout, lambda: get_layout(source.layout)(self.fetcher, self._verifier, self.http_root)
        )

    def _verifier(self, source: Source) -> IndexVerifier:
        def make() -> IndexVerifier:
            # The newest Date trusted per suite: an older signed index is a replay. A dry run only reads it.
            dates = FreshnessStore(self.root.maas / FRESHNESS_FILE, writable=not self._dry_run)
            return IndexVerifier(
                self.fetcher,
                source.url,
                source.keyrings,
                source.keyring_hint,
                allow_expired=source.allow_expired_indexes,
                freshness=dates,
                clock=self.clock,
            )

        return self._verifiers.get(source, make)

    def _wanted(self, item: Item) -> Wanted:
        wanted = self._layout(item.source).wanted(item)
        generated = dict(wanted.generated)
        if wanted.boot_options:
            generated[BOOT_OPTIONS_FILE] = (wanted.boot_options.strip() + "\n").encode()
        if wanted.entries:
            # No "title" key when there is none: the file of an entry without one stays as it was (its version too).
            entries = [{k: v for k, v in dataclasses.asdict(e).items() if v or k != "title"} for e in wanted.entries]
            generated[MENU_ENTRIES_FILE] = (json.dumps(entries, indent=1) + "\n").encode()
        return dataclasses.replace(wanted, generated=generated)

    def _published_missing(self, wanted: Wanted) -> list[str]:
        """The HTTP root paths `wanted` keeps there that are not there (deleted by hand, say) or, for a file kept
        as it was fetched (a rack's copy of its region's), not its bytes (by size; with --verify, SHA-256)."""
        if self.http_root is None:
            return []
        return [p for c in wanted.all_containers for p in c.kept_paths if not kept(self.http_root, c, p, self.verify)]

    @staticmethod
    def _to_fetch(wanted: Wanted, missing: list[str]) -> list[Container]:
        """The containers to download: all but a "file" kept whole in the HTTP root (not among `missing`)."""
        return [c for c in wanted.all_containers if c.kind != "file" or c.publish_as in missing]

    def _import(self, item: Item, *, dry_run: bool) -> ItemResult:
        wanted = self._wanted(item)
        if wanted.skip:
            return ItemResult(item, Outcome.SKIPPED, message=wanted.skip)
        if item.kind == ItemKind.LOADER:
            wanted.check_loader_set()  # a loader without its ldlinux.c32 or GRUB fails; the working set stays
            if not self.accept_loader_change:
                loadersets.check_kept(self.root, item, set(wanted.identity))
        slot = self._slot(item)
        version = version_id(wanted.identity)
        installed = self.root.installed(slot, list(wanted.identity), wanted.optional)
        previous = installed.version if installed else None
        # What is served is checked before it is called unchanged or reused; a damaged set is repaired.
        damage = check(installed.files, deep=self.verify, writable=not dry_run) if installed else []
        done = ItemResult(
            item, Outcome.UNCHANGED, version=version, previous_version=previous, signed_by=wanted.signed_by
        )
        damaged = [str(d) for d in damage]
        # Its copies for nodes, checked as its files, when it is the version wanted (else `wanted` names new paths).
        if self.http_root is not None and installed is not None and previous == version:
            names = {d.name for d in damage}
            damaged += check_copies(self.http_root, wanted, installed.files, names, deep=self.verify, dry=dry_run)
        done.repaired = "; ".join(damaged)
        if damage:  # the command says it once on stderr at every verbosity (text.item_lines); the journal: INFO
            log.info("%s: damaged: %s", item, done.repaired)
        names = set(wanted.identity)
        complete = installed is not None and names - wanted.optional <= set(installed.files) <= names
        unchanged = previous == version and complete and not damage
        missing = self._published_missing(wanted)  # once: with --verify it hashes what the HTTP root keeps
        if installed is not None and unchanged and not missing:
            done.files = [
                FileResult(name, f.sha256, wanted.origin(name), f.path.stat().st_size, downloaded=False)
                for name, f in installed.files.items()
            ]
            return done
        # A file whose listed hash is what is installed, and hashes to it now, is linked into the new
        # version, not fetched.
        damaged_names = {d.name for d in damage}
        reuse = {
            f.name: installed.files[f.name].path
            for f in wanted.files
            if installed and f.name not in damaged_names and _holds(installed.files.get(f.name), f.sha256)
        }
        fetch = self._to_fetch(wanted, missing)
        if dry_run:  # sizes by HEAD, so the plan says how many bytes a real run would move
            remote = [f for f in wanted.files if f.name not in reuse] + [c.remote for c in fetch]
            done.outcome = Outcome.PLANNED
            done.files = [FileResult(f.name, f.sha256, f.url, self.fetcher.size(f.url), True) for f in remote]
            return done
        result = self._install(item, slot, version, previous, wanted, reuse, fetch, rebuild=bool(damage))
        result.signed_by, result.repaired = wanted.signed_by, done.repaired
        return result

    def _install(
        self,
        item: Item,
        slot: Slot,
        version: str,
        previous: str | None,
        wanted: Wanted,
        reuse: dict[str, Path],
        fetch: list[Container],
        *,
        rebuild: bool = False,
    ) -> ItemResult:
        label = f"{item.arch}/{item.release}" if item.kind == ItemKind.INSTALL else f"{item.arch} loaders"
        pending = {f.name: self.downloads.get(f, f"{label} {f.name}") for f in wanted.files if f.name not in reuse}
        packed = [(c, self.downloads.get(c.remote, f"{label} {c.remote.name}", c.free_bytes)) for c in fetch]
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
        unpacked = self.downloads.scratch_dir(item.kind)
        keep: list[Callable[[], Path]] = []
        for container, future in packed:
            pulled += self._unpack(container, future.result(), unpacked, sources, hashes, files, keep)
        for name, content in wanted.generated.items():
            path = unpacked / name
            path.write_bytes(content)
            sources[name], hashes[name] = path, hashlib.sha256(content).hexdigest()
            files.append(FileResult(name, hashes[name], wanted.origin(name), len(content), False))
        if self.fetcher.cancelled:
            raise FetchError(item.source.url, "the run was stopped before this item was installed")
        order = [n for n in wanted.identity if n in sources]
        if item.kind == ItemKind.LOADER:  # shim must accept its GRUB and MokManager; else the served set stays
            loadersets.check_chain(item, sources)
        if wanted.check_files is not None:
            wanted.check_files(sources, hashes)
        for publish in keep:  # once every check passed: a refused version keeps nothing in the HTTP root
            log.info("kept %s for nodes", publish())
        path = self.root.install(slot, version, {n: sources[n] for n in order}, hashes, rebuild=rebuild)
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

    def _unpack(
        self,
        container: Container,
        path: Path,
        unpacked: Path,
        sources: dict[str, Path],
        hashes: dict[str, str],
        files: list[FileResult],
        keep: list[Callable[[], Path]],
    ) -> int:
        """Extract a downloaded, verified container's members; add to `keep` how to keep in the HTTP root what
        it is to keep there (a member replaces a copy that is not it); return its size. Errors name its URL."""
        try:
            got = containers.extract(container, path, unpacked, max_bytes=self.max_file_bytes)
        except (TarballError, IsoImageError, DebError, LayoutError) as exc:
            raise FetchError(container.remote.url, str(exc)) from exc
        for name, extracted in got.items():
            sources[name], hashes[name] = extracted.path, extracted.sha256
            url = f"{container.remote.url}#{container.members[name][0]}"
            files.append(FileResult(name, extracted.sha256, url, extracted.size, True))
        keep += to_keep(self.http_root, container, path, {name: extracted.path for name, extracted in got.items()})
        return path.stat().st_size

    def _slot(self, item: Item) -> Slot:
        if item.kind == ItemKind.LOADER:
            return self.root.loader_slot(item.arch)
        return self.root.install_slot(item.arch, item.release)


def _origin(item: Item) -> str:
    """Where `item`'s files come from, for a failure that names no URL: a loader's package archive
    when its source takes loaders from one, else the source's URL."""
    if item.kind == ItemKind.LOADER:
        return item.source.loader_archive_for(item.arch) or item.source.url
    return item.source.url


def _version_of(served: str) -> str | None:
    """The version in "install-<v>" or "_loader-<v>" (one version only); None otherwise."""
    head, _, version = served.rpartition("-")
    return version if head in ("install", "_loader") and len(version) == VERSION_LENGTH else None


def _holds(installed: InstalledFile | None, sha256: str) -> bool:
    """Whether an installed file has the listed hash, by its manifest and by hashing it now."""
    if installed is None or installed.sha256 != sha256:
        return False
    try:
        return installed.hashed or sha256_file(installed.path) == sha256
    except OSError:
        return False
