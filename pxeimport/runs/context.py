"""One run's context: the command's options and the settings wired into a TFTP root, fetcher and plan.

The one place that turns Django settings and the saved selection into the plain objects the
importer takes (TftpRoot, Fetcher with its index cache and proxies, items, menu settings), so the
command only parses options, calls in and reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from pxeimport.fetching import Fetcher, FetchError, FetchSettings, IndexCache
from pxeimport.importer import FRESHNESS_FILE, contested, plan, usage_problems
from pxeimport.items import DEFAULT_LAYOUT, Item, ItemKind, Selection
from pxeimport.layouts import REGION, LayoutError, ReleaseDataError, layout_trait, signed_index
from pxeimport.lib import InvalidName
from pxeimport.menus import BadKernelOptions, MenuSettings, check_entry_fits, check_kernel_opts
from pxeimport.publication import INDEX
from pxeimport.runs.selection import NothingSelected, Overrides, command_line_source, resolve
from pxeimport.tftproot import MAAS_DIR, HttpRoot, TftpRoot
from pxeimport.trust import Freshness, FreshnessStore, SignatureError, check_dates, keyring_problem

INDEX_CACHE_DIR = ".cache/index"


class ConfigError(Exception):
    """Bad options or configuration: nothing was done (the command's exit 2)."""


class IndexUnavailable(Exception):
    """A rack's mirror run could not read its region's signed index: nothing was done (the command's exit 1)."""


@dataclass(frozen=True)
class RunOptions:
    """What the operator asked for; None or empty means "the saved selection" or "the setting"."""

    archive: str | None = None
    # One saved boot source by name, enabled or not (narrowed: retires nothing); None: every enabled one.
    source: str | None = None
    # None: not given (the default layout with --archive; without it, each saved source's own).
    layout: str | None = None
    loader_archive: str | None = None
    iso_sha256: str | None = None
    tftproot: Path | None = None
    arches: Sequence[str] = ()
    releases: Sequence[str] = ()
    current_release: str | None = None
    keyrings: Sequence[Path] = ()
    jobs: int | None = None
    kernel_opts: str | None = None
    dry_run: bool = False
    trigger: str = "command"
    # Hash every served file against its version's SHA256SUMS, not only those whose size or mtime changed.
    verify: bool = False
    # Serve a new loader set that lacks a boot file the served set has (the operator confirmed it).
    accept_loader_change: bool = False


@dataclass
class RunContext:
    root: TftpRoot
    fetcher: Fetcher
    selections: list[Selection]
    items: list[Item]
    menus: MenuSettings
    jobs: int
    max_file_bytes: int
    dry_run: bool
    trigger: str
    warnings: list[str] = field(default_factory=list)
    verify: bool = False
    accept_loader_change: bool = False
    # Retire what the plan does not name: only when the plan is the whole saved selection.
    retire: bool = False
    # Where verified files nodes fetch over HTTP are kept (PXEIMPORT_HTTP_ROOT/URL); None: not set.
    http_root: HttpRoot | None = None


def build(options: RunOptions) -> RunContext:
    """The context for one run; ConfigError (with what to fix) when options or settings are wrong."""
    if options.archive and urlsplit(options.archive).scheme not in ("http", "https"):
        raise ConfigError(f"--archive {options.archive!r}: only http:// and https:// URLs are supported")
    loaders = options.loader_archive
    if loaders and (urlsplit(loaders).scheme not in ("http", "https") or not loaders.rstrip("/").endswith("/dists")):
        raise ConfigError(f"--loader-archive {loaders!r}: give the package archive's http(s) dists/ URL")
    for keyring in options.keyrings:  # the sources' own keyrings are each item's to report
        problem = keyring_problem(keyring)
        if problem is not None:
            raise ConfigError(f"--keyring {keyring}: {problem} (the keyring gpgv checks the indexes with)")
    given = _given(options)
    mirror = _mirrors(options)
    if options.source and options.archive:
        raise ConfigError("--source names a saved boot source and --archive another archive: give one of them")
    if options.archive and (options.layout or DEFAULT_LAYOUT) == DEFAULT_LAYOUT and not options.releases:
        # A d-i archive may be Debian's or Ubuntu's: defaults from either distribution would be a guess.
        raise ConfigError(
            f"--archive {options.archive} needs --release (e.g. --release bookworm): a debian-installer archive "
            "may be Debian's or Ubuntu's, and the releases to import are not guessed; a saved boot source "
            "has a distribution, and takes its supported releases by default"
        )
    own_keyring = layout_trait(options.layout or DEFAULT_LAYOUT, "own_keyring", "") if options.archive else ""
    if own_keyring and not options.keyrings:
        raise ConfigError(f"--layout {options.layout} needs --keyring FILE: {own_keyring}")
    if options.layout == REGION and bool(options.arches) != bool(options.releases):
        raise ConfigError(
            "--layout region: give both --arch and --release (a run narrowed to those), or neither (mirror "
            "exactly the pairs the region's index lists, retiring what it no longer lists)"
        )
    try:
        if options.archive:
            _refuse(usage_problems(options.archive, options.layout, given))
        overrides = Overrides(
            archive=options.archive,
            source=options.source,
            layout=options.layout or DEFAULT_LAYOUT,
            arches=options.arches,
            releases=options.releases,
            current_release=options.current_release,
            keyrings=options.keyrings,
            loader_archive=options.loader_archive,
            iso_sha256=options.iso_sha256,
        )
        tftproot = (options.tftproot or settings.PXEIMPORT_TFTPROOT).absolute()
        selections = resolve(_mirrored(overrides, tftproot / MAAS_DIR / FRESHNESS_FILE) if mirror else overrides)
        if not options.archive:
            _refuse(usage_problems(None, options.layout, given, [s.source.layout for s in selections]))
        # A saved source's keyring gpgv cannot read at all is a mistake to fix, not a run to retry (exit 2).
        for sel in selections if not options.archive else ():
            for keyring in sel.source.keyrings if sel.source.verify_signatures else ():
                problem = keyring_problem(keyring)
                if problem is not None and problem != "keyring file not found":
                    raise ConfigError(
                        f"boot source {sel.source.name!r}: keyring {keyring} {problem}; fix it in the admin"
                    )
        items = plan(selections)
        kernel_opts = None if options.kernel_opts is None else check_kernel_opts(options.kernel_opts)
        # Before anything is fetched or written: every entry's command line must fit its loaders.
        for item in items:
            if item.kind == ItemKind.INSTALL:
                opts = kernel_opts if kernel_opts is not None else item.kernel_opts
                check_entry_fits(item.release, opts, f"/{MAAS_DIR}/{item.arch}/base")
    except (ReleaseDataError, InvalidName, NothingSelected, BadKernelOptions, LayoutError) as exc:
        raise ConfigError(str(exc)) from exc
    jobs = settings.PXEIMPORT_JOBS if options.jobs is None else options.jobs  # --jobs 0 is refused, not the default
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be at least 1")
    root = TftpRoot((options.tftproot or settings.PXEIMPORT_TFTPROOT).absolute(), settings.PXEIMPORT_GRACE_SECONDS)
    if not root.path.exists() and not root.path.parent.is_dir():
        # A typo (/var/lib/tfptboot/x) must not become a new tree nobody serves; a new root's parent exists.
        where = "--tftproot" if options.tftproot else "PXEIMPORT_TFTPROOT"
        raise ConfigError(
            f"{where} {root.path}: neither it nor its parent {root.path.parent} exists (a typo?); "
            f"create the TFTP root first (mkdir {root.path}) if it is new"
        )
    fetcher = Fetcher(
        FetchSettings(
            read_timeout=settings.PXEIMPORT_HTTP_TIMEOUT,
            retries=settings.PXEIMPORT_HTTP_RETRIES,
            backoff=settings.PXEIMPORT_HTTP_BACKOFF,
            max_file_bytes=settings.PXEIMPORT_MAX_FILE_BYTES,
            max_connections=jobs,
        ),
        # Child indexes by the hash their verified parent lists; a dry run reads the cache, never writes it.
        index_cache=IndexCache(root.maas / INDEX_CACHE_DIR, writable=not options.dry_run),
        proxies={s.source.url: s.source.proxy for s in selections if s.source.proxy},
    )
    # Every run, even at -v0: an operator must not forget a check is off, or that a source is left out.
    warnings = contested(selections)
    warnings += [
        f"WARNING: signature checks are off for boot source {s.source.name!r}: its SHA256SUMS is trusted as served"
        for s in selections
        if not s.source.verify_signatures
    ]
    warnings += [
        f"WARNING: boot source {s.source.name!r} allows expired indexes: "
        "a Release past its Valid-Until is used (for a frozen private mirror only)"
        for s in selections
        if s.source.allow_expired_indexes
    ]
    warnings += [
        f"WARNING: boot source {s.source.name!r} takes only the ISO with SHA-256 {s.source.iso_sha256} (pinned): "
        "a new point release is not imported until the pin changes"
        for s in selections
        if s.source.iso_sha256
    ]
    http_root = None
    if settings.PXEIMPORT_HTTP_ROOT and settings.PXEIMPORT_HTTP_URL:
        http_root = HttpRoot(
            Path(settings.PXEIMPORT_HTTP_ROOT).absolute(), settings.PXEIMPORT_HTTP_URL, settings.PXEIMPORT_GRACE_SECONDS
        )
    return RunContext(
        http_root=http_root,
        root=root,
        fetcher=fetcher,
        selections=selections,
        items=items,
        menus=MenuSettings(
            timeout_seconds=settings.PXEIMPORT_MENU_TIMEOUT,
            kernel_opts=kernel_opts,
            default=settings.PXEIMPORT_MENU_DEFAULT,
        ),
        jobs=jobs,
        max_file_bytes=settings.PXEIMPORT_MAX_FILE_BYTES,
        dry_run=options.dry_run,
        trigger=options.trigger,
        warnings=warnings,
        verify=options.verify,
        accept_loader_change=options.accept_loader_change,
        # A run narrowed by --archive, --arch or --release must not take away what it does not name; a rack
        # mirroring its region's whole index retires what the index no longer lists.
        retire=mirror or not (options.archive or options.source or options.arches or options.releases),
    )


def _mirrors(options: RunOptions) -> bool:
    """Whether the run mirrors a region's index: --layout region with neither --arch nor --release."""
    return options.layout == REGION and bool(options.archive) and not (options.arches or options.releases)


def _mirrored(overrides: Overrides, dates: Path) -> Overrides:
    """`overrides` narrowed to exactly the (arch, release) pairs the region's signed index lists.

    IndexUnavailable when the index cannot be read, its signature is bad, or its Date is refused as the import
    would refuse it (ahead of this clock, or older than the newest trusted in `dates`, the root's freshness
    file): an index not to be used must not choose what is retired either. ConfigError when it lists nothing
    (a region that serves nothing is a mistake to report, not a reason to empty every rack).
    """
    fetcher = Fetcher(
        FetchSettings(
            read_timeout=settings.PXEIMPORT_HTTP_TIMEOUT,
            retries=settings.PXEIMPORT_HTTP_RETRIES,
            backoff=settings.PXEIMPORT_HTTP_BACKOFF,
        )
    )
    url = (overrides.archive or "").rstrip("/") + "/" + INDEX
    try:
        index, _ = signed_index(command_line_source(overrides), fetcher)
        check_dates(url, Freshness(index.date), datetime.now(UTC))
        FreshnessStore(dates, writable=False).check(url, url, index.date)  # recorded by the layout, which reads it
    except (FetchError, SignatureError, OSError) as exc:  # StaleIndex is a SignatureError
        raise IndexUnavailable(f"the region's index: {exc}; nothing done, what is served stays") from exc
    finally:
        fetcher.close()
    if not index.items:
        raise ConfigError(
            f"{overrides.archive} publishes nothing (its index lists no arch): nothing done, nothing retired; "
            "the region's import has not run, or failed"
        )
    return replace(
        overrides,
        arches=tuple(index.arches),
        releases=tuple(index.releases),
        current_release=overrides.current_release or index.current_release or "none",
        pairs=frozenset((i.arch, i.release) for i in index.items if i.release),
    )


def _given(options: RunOptions) -> set[str]:
    """The command-line names of the options given that only some layouts need or read."""
    values = {
        "--loader-archive": options.loader_archive,
        "--iso-sha256": options.iso_sha256,
        "--arch": options.arches,
        "--release": options.releases,
        "--current-release": options.current_release,
    }
    return {name for name, value in values.items() if value}


def _refuse(problems: list[str]) -> None:
    if problems:
        raise ConfigError("; ".join(problems))
