"""Import netboot files into the TFTP root: the cron job. Parses options, calls the importer, reports."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport import records
from pxeimport.archive import debian_installer, ubuntu_netboot
from pxeimport.fetch import Fetcher, FetchSettings
from pxeimport.importer import Importer, Item, ItemResult, MenuResult, MenuSettings, Outcome, plan
from pxeimport.indexcache import IndexCache
from pxeimport.menus import BadKernelOptions, check_kernel_opts
from pxeimport.models import Trigger
from pxeimport.names import InvalidName
from pxeimport.progress import TerminalProgress
from pxeimport.releases import ReleaseDataError
from pxeimport.selection import NothingSelected, Overrides, resolve
from pxeimport.stopping import Stopped, stop_on_signals
from pxeimport.tftproot import LockHeld, TftpRoot, UnsafePath

LAYOUTS = (debian_installer.NAME, ubuntu_netboot.NAME)
INDEX_CACHE_DIR = ".cache/index"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # EX_TEMPFAIL: cron may simply try again later


class Command(BaseCommand):
    help = (
        "Download the pre-boot loader, kernel and initrd of each selected architecture and release, "
        "verify them against the archive's SHA256SUMS, and install them atomically into the TFTP root. "
        "Exit status: 0 all imported or up to date, 1 some item failed, 2 bad usage or configuration, "
        "75 another import holds the lock."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--archive",
            metavar="URL",
            help="Import from this archive's dists/ URL instead of the saved boot sources.",
        )
        parser.add_argument(
            "--layout",
            choices=LAYOUTS,
            default=debian_installer.NAME,
            help="With --archive: the archive's layout (default: debian-installer, a dists/ URL; "
            "ubuntu-netboot: the directory above <codename>/, e.g. https://releases.ubuntu.com/).",
        )
        parser.add_argument(
            "--tftproot",
            metavar="DIR",
            type=Path,
            help=f"The TFTP root (default: PXEIMPORT_TFTPROOT, now {settings.PXEIMPORT_TFTPROOT}).",
        )
        parser.add_argument(
            "--arch",
            dest="arches",
            action="append",
            default=[],
            metavar="ARCH",
            help="Import this architecture (repeatable); overrides the saved selection.",
        )
        parser.add_argument(
            "--release",
            dest="releases",
            action="append",
            default=[],
            metavar="RELEASE",
            help="Import this release (repeatable); overrides the saved selection.",
        )
        parser.add_argument(
            "--current-release",
            metavar="RELEASE",
            help="Take the pre-boot loader from this release (default: the distribution's stable release).",
        )
        parser.add_argument(
            "--keyring",
            dest="keyrings",
            action="append",
            default=[],
            type=Path,
            metavar="FILE",
            help="Verify signatures with this keyring file (as gpgv --keyring takes it) instead of the sources' own.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change; change nothing, record nothing."
        )
        parser.add_argument(
            "--jobs",
            type=int,
            metavar="N",
            help=f"Download up to N files at once (default: PXEIMPORT_JOBS, now {settings.PXEIMPORT_JOBS}).",
        )
        parser.add_argument(
            "--kernel-opts",
            metavar="OPTIONS",
            help='Extra kernel options for every entry of the boot menus this run writes, e.g. "console=ttyS0,115200".',
        )
        parser.add_argument(
            "--trigger",
            choices=Trigger.values,
            default=Trigger.COMMAND,
            help="What started this run, as recorded in its row (default: command).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        self.menu_errors: list[str] = []
        archive = options["archive"]
        if archive and urlsplit(archive).scheme not in ("http", "https"):
            raise CommandError(f"--archive {archive!r}: only http:// and https:// URLs are supported", returncode=2)
        try:
            selections = resolve(
                Overrides(
                    archive=archive,
                    layout=options["layout"],
                    arches=options["arches"],
                    releases=options["releases"],
                    current_release=options["current_release"],
                    keyrings=options["keyrings"],
                )
            )
            items = plan(selections)
            kernel_opts = options["kernel_opts"]
            menus = MenuSettings(
                timeout_seconds=settings.PXEIMPORT_MENU_TIMEOUT,
                kernel_opts=None if kernel_opts is None else check_kernel_opts(kernel_opts),
            )
        except (ReleaseDataError, InvalidName, NothingSelected, BadKernelOptions) as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        for selection in selections:
            if not selection.source.verify_signatures:
                # Every run, even at -v0: an operator must not forget this is on.
                self.stderr.write(
                    self.style.WARNING(
                        f"WARNING: signature checks are off for boot source {selection.source.name!r}: "
                        "its SHA256SUMS is trusted as served"
                    )
                )
            if selection.source.allow_expired_indexes:
                self.stderr.write(
                    self.style.WARNING(
                        f"WARNING: boot source {selection.source.name!r} allows expired indexes: "
                        "a Release past its Valid-Until is used (for a frozen private mirror only)"
                    )
                )

        jobs = options["jobs"] or settings.PXEIMPORT_JOBS
        if jobs < 1:
            raise CommandError(f"--jobs {jobs}: must be at least 1", returncode=EXIT_USAGE)
        root = TftpRoot((options["tftproot"] or settings.PXEIMPORT_TFTPROOT).absolute())
        fetcher = Fetcher(
            FetchSettings(
                read_timeout=settings.PXEIMPORT_HTTP_TIMEOUT,
                retries=settings.PXEIMPORT_HTTP_RETRIES,
                backoff=settings.PXEIMPORT_HTTP_BACKOFF,
                max_file_bytes=settings.PXEIMPORT_MAX_FILE_BYTES,
                max_connections=jobs,
            ),
            # Conditional GETs for indexes; a dry run reads the cache but never writes to the root.
            index_cache=IndexCache(root.maas / INDEX_CACHE_DIR, writable=not options["dry_run"]),
            proxies={s.source.url: s.source.proxy for s in selections if s.source.proxy},
        )
        started = time.monotonic()
        try:
            if options["dry_run"]:
                results = self._dry_run(root, fetcher, items, jobs)
            else:
                results = self._import(root, fetcher, items, menus, jobs, trigger=options["trigger"])
        finally:
            fetcher.close()
        self._summarise(results, fetcher.bytes_downloaded, time.monotonic() - started, dry=options["dry_run"])

    def _import(
        self, root: TftpRoot, fetcher: Fetcher, items: list[Item], menus: MenuSettings, jobs: int, *, trigger: str
    ) -> list[ItemResult]:
        tftproot = str(root.path)
        try:
            with stop_on_signals(), contextlib.ExitStack() as held:
                try:
                    held.enter_context(root.lock())
                except (UnsafePath, OSError) as exc:
                    # Cannot make maas/ or its lock: a read-only or full disk, a symlink, no permission.
                    raise CommandError(f"cannot use TFTP root {tftproot}: {exc}", returncode=EXIT_USAGE) from exc
                return self._import_locked(root, fetcher, items, menus, jobs, trigger=trigger)
        except Stopped as exc:
            raise CommandError(
                f"{exc}: the run was cancelled; finished items stay installed, nothing half-done is served",
                returncode=exc.exit_code,
            ) from exc
        except LockHeld as exc:
            records.record_locked(tftproot, exc.holder, trigger)
            raise CommandError(f"{exc}; nothing done, try again later", returncode=EXIT_LOCKED) from exc
        except UnsafePath as exc:
            # Found during the run (a planted symlink where staging goes): the run is recorded as an error.
            raise CommandError(f"cannot use TFTP root {tftproot}: {exc}", returncode=EXIT_USAGE) from exc

    def _import_locked(
        self, root: TftpRoot, fetcher: Fetcher, items: list[Item], menus: MenuSettings, jobs: int, *, trigger: str
    ) -> list[ItemResult]:
        tftproot = str(root.path)
        abandoned = records.abandon_stale_runs(tftproot)
        if abandoned and self.verbosity >= 1:
            self.stdout.write(self.style.NOTICE(f"Marked {abandoned} interrupted earlier run(s) abandoned."))
        run = records.start_run(tftproot, trigger)

        def on_result(result: ItemResult) -> None:
            records.record_result(run, result)
            self._report(result)

        display = self._progress_display()
        importer = Importer(
            root,
            fetcher,
            grace_seconds=settings.PXEIMPORT_GRACE_SECONDS,
            on_result=on_result,
            menus=menus,
            jobs=jobs,
            max_file_bytes=settings.PXEIMPORT_MAX_FILE_BYTES,
            progress=display.update if display else None,
        )
        try:
            with display or contextlib.nullcontext():
                results = importer.run(items)
        except Stopped as exc:
            records.cancel_run(run, str(exc), importer.results, fetcher.bytes_downloaded)
            raise
        except BaseException as exc:
            records.fail_run(run, f"{type(exc).__name__}: {exc}")
            raise
        for menu in importer.menu_results:
            self._report_menu(menu)
        records.finish_run(run, results, fetcher.bytes_downloaded)
        self.menu_errors = [m.error for m in importer.menu_results if m.error]
        if self.menu_errors:
            records.add_errors(run, self.menu_errors)
        return results

    def _dry_run(self, root: TftpRoot, fetcher: Fetcher, items: list[Item], jobs: int) -> list[ItemResult]:
        importer = Importer(root, fetcher, grace_seconds=settings.PXEIMPORT_GRACE_SECONDS, jobs=jobs)
        results = importer.run(items, dry_run=True)
        if self.verbosity >= 1:
            rows = [("ITEM", "INSTALLED", "UPSTREAM", "TO FETCH", "ACTION")]
            total: int | None = 0
            for r in results:
                size = "-"
                if r.outcome == Outcome.PLANNED:
                    fetch = ", ".join(f.name for f in r.to_download) or "nothing (reuse installed files)"
                    action = f"install; fetch {fetch}"
                    sizes = [f.size for f in r.to_download]
                    known = None if None in sizes else sum(s or 0 for s in sizes)
                    size = "unknown" if known is None else _megabytes(known)
                    total = None if total is None or known is None else total + known
                else:
                    action = r.outcome.value + (f": {r.message}" if r.message else "")
                rows.append((str(r.item), r.previous_version or "-", r.version or "-", size, action))
            widths = [max(len(row[i]) for row in rows) for i in range(4)]
            for row in rows:
                self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[4])
            self.stdout.write(f"Would fetch {'an unknown amount' if total is None else _megabytes(total)}.")
        for r in results:
            if r.outcome == Outcome.FAILED:
                self.stderr.write(self.style.ERROR(f"{r.item}: {r.message}"))
        return results

    def _report(self, result: ItemResult) -> None:
        """One line per item as it finishes: changes at -v1, everything at -v2, files at -v3."""
        if result.outcome == Outcome.FAILED:
            self.stderr.write(self.style.ERROR(f"{result.item} failed: {result.message}"))
            return
        if result.outcome == Outcome.INSTALLED and self.verbosity >= 1:
            was = f" (was {result.previous_version})" if result.previous_version else ""
            self.stdout.write(self.style.SUCCESS(f"{result.item}: installed {result.version}{was}"))
        elif result.outcome == Outcome.SKIPPED and self.verbosity >= 1:
            self.stdout.write(self.style.NOTICE(f"{result.item}: skipped, {result.message}"))
        elif result.outcome == Outcome.UNCHANGED and self.verbosity >= 2:
            self.stdout.write(f"{result.item}: unchanged ({result.version})")
        if self.verbosity >= 3:
            for f in result.files:
                how = "downloaded" if f.downloaded else "kept"
                self.stdout.write(f"    {f.name} {f.sha256} {f.size} bytes, {how}, from {f.url}")

    def _progress_display(self) -> TerminalProgress | None:
        """Bars per file and for the run, on a terminal at -v1 and up; nothing for cron or a pipe."""
        if self.verbosity < 1 or not self.stdout.isatty():
            return None
        return TerminalProgress(sys.stdout)

    def _report_menu(self, menu: MenuResult) -> None:
        if menu.error:
            self.stderr.write(self.style.ERROR(menu.error))
        elif menu.changed and self.verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(f"{menu.arch} boot menus: wrote {', '.join(menu.changed)} (default {menu.default})")
            )
        elif self.verbosity >= 2 and menu.releases:
            self.stdout.write(f"{menu.arch} boot menus: unchanged")

    def _summarise(self, results: list[ItemResult], pulled: int, seconds: float, *, dry: bool) -> None:
        count = {o: sum(1 for r in results if r.outcome == o) for o in Outcome}
        failed = count[Outcome.FAILED]
        menu_errors = self.menu_errors
        if self.verbosity >= 1:
            done = f"{count[Outcome.PLANNED]} to install" if dry else f"{count[Outcome.INSTALLED]} installed"
            self.stdout.write(
                f"{'Dry run: ' if dry else ''}{done}, {count[Outcome.UNCHANGED]} unchanged, "
                f"{count[Outcome.SKIPPED]} skipped, {failed} failed; "
                f"{pulled / 1e6:.1f} MB downloaded in {seconds:.1f} s."
            )
        if menu_errors and not failed:
            raise CommandError("boot menus could not be written; the previous menus stay", returncode=EXIT_FAILED)
        if failed:
            raise CommandError(
                f"{failed} of {len(results)} items failed; what was installed before is still served",
                returncode=EXIT_FAILED,
            )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
