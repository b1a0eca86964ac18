"""Import netboot files into the TFTP root: the cron job. Parses options, calls the importer, reports."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport.importer import (
    Importer,
    Line,
    Stopped,
    TerminalProgress,
    dry_run_table,
    failure_summary,
    item_lines,
    loaderless,
    menu_change,
    menu_lines,
    stop_on_signals,
    summary,
)
from pxeimport.items import DEFAULT_LAYOUT, ItemResult, Outcome
from pxeimport.layouts import layout_names
from pxeimport.lib import EXIT_FAILED, EXIT_LOCKED, EXIT_USAGE, describe_os_error
from pxeimport.models import Trigger
from pxeimport.publication import RegionKeyError
from pxeimport.runs import ConfigError, IndexUnavailable, RunContext, RunOptions, build, publishing, records
from pxeimport.secureboot import served_judgement
from pxeimport.tftproot import LockHeld, UnsafePath, blockers, hazards


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
            "--source",
            metavar="NAME",
            help="Only this saved boot source, enabled or not (the admin's Check source runs it with --dry-run); "
            "like --arch and --release, the run is narrowed and retires nothing.",
        )
        parser.add_argument(
            "--layout",
            choices=layout_names(),
            help=f"With --archive only: the archive's layout (default: {DEFAULT_LAYOUT}, a dists/ URL; "
            "ubuntu-netboot and ubuntu-iso: the directory above <codename>/, e.g. https://releases.ubuntu.com/; "
            "ubuntu-iso needs --loader-archive; region: a region's publish URL, needs --arch and --release). "
            "Saved boot sources have their own.",
        )
        parser.add_argument(
            "--loader-archive",
            metavar="URL",
            help="ubuntu-iso only: take the pre-boot loaders from this signed package archive's dists/ URL, "
            "e.g. http://archive.ubuntu.com/ubuntu/dists/ (needed with --archive --layout ubuntu-iso; without "
            "--archive it replaces the ubuntu-iso boot sources' own). Refused for a layout that does not read it.",
        )
        parser.add_argument(
            "--iso-sha256",
            metavar="SHA256",
            type=_sha256,
            help="anaconda-iso only: import only the boot ISO with this SHA-256, as its checksum list names it, "
            "signed or not (CentOS Stream and Rocky Linux publish unsigned lists); without --archive it replaces "
            "the anaconda-iso boot sources' own pin.",
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
            help="Import this architecture (repeatable); overrides the saved selection for this run, which then "
            "retires nothing (only a run from the whole saved selection retires what it no longer names). With "
            "--layout region and neither --arch nor --release, a rack mirrors the region's index: exactly the "
            "pairs it lists, and what it no longer lists is retired.",
        )
        parser.add_argument(
            "--release",
            dest="releases",
            action="append",
            default=[],
            metavar="RELEASE",
            help="Import this release (repeatable); overrides the saved selection for this run, which then "
            "retires nothing.",
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
            "--dry-run",
            action="store_true",
            help="Print what a real run would do: installs, boot menus, retirements, deletions (superseded versions, "
            "leftovers, HTTP root files), mode changes; change nothing, record nothing.",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="Also hash every served file against its version's SHA256SUMS (every run checks sizes and "
            "mtimes only), repair what is damaged, and exit 1 if anything was. Weekly, from the timer.",
        )
        parser.add_argument(
            "--accept-loader-change",
            action="store_true",
            help="Serve a new pre-boot loader set even if it lacks a boot file the served set has (e.g. after "
            "switching layouts, bootnetx64.efi to bootx64.efi): without it such a set is not installed, the "
            "served one stays and the run fails, so that DHCP can be changed first.",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            metavar="N",
            help=f"Use up to N connections per host: files at once, and segments of a big file "
            f"(default: PXEIMPORT_JOBS, now {settings.PXEIMPORT_JOBS}).",
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
        try:
            run = build(
                RunOptions(
                    archive=options["archive"],
                    source=options["source"],
                    layout=options["layout"],
                    loader_archive=options["loader_archive"],
                    iso_sha256=options["iso_sha256"],
                    tftproot=options["tftproot"],
                    arches=options["arches"],
                    releases=options["releases"],
                    current_release=options["current_release"],
                    keyrings=options["keyrings"],
                    jobs=options["jobs"],
                    kernel_opts=options["kernel_opts"],
                    dry_run=options["dry_run"],
                    trigger=options["trigger"],
                    verify=options["verify"],
                    accept_loader_change=options["accept_loader_change"],
                )
            )
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        except IndexUnavailable as exc:
            raise CommandError(str(exc), returncode=EXIT_FAILED) from exc
        for warning in [*run.warnings, *(f"WARNING: {h}" for h in hazards(run.root))]:
            self.stderr.write(self.style.WARNING(warning))
        started = time.monotonic()
        menu_errors: list[str] = []
        try:
            if run.dry_run:
                results, menu_errors = self._dry_run(run)
            else:
                results, menu_errors = self._import(run)
        finally:
            run.fetcher.close()
        if self.verbosity >= 1:
            self.stdout.write(
                summary(results, run.fetcher.bytes_downloaded, time.monotonic() - started, dry=run.dry_run)
            )
        refused = [r for r in results if r.not_offered]
        if refused:
            raise CommandError(
                f"the selection names what its source does not offer ({len(refused)} item(s), said above); "
                "nothing was retired: fix the selection (an arch or release name) and run again",
                returncode=EXIT_USAGE,
            )
        failed = sum(1 for r in results if r.outcome == Outcome.FAILED)
        if failed:
            raise CommandError(failure_summary(results), returncode=EXIT_FAILED)
        if menu_errors:
            raise CommandError("boot menus could not be written; the previous menus stay", returncode=EXIT_FAILED)
        damaged = sum(1 for r in results if r.repaired)
        if run.verify and damaged:
            done = "found" if run.dry_run else "found and repaired"
            raise CommandError(f"--verify: {damaged} item(s) served damaged files, {done}", returncode=EXIT_FAILED)
        if run.verify and self.verbosity >= 1:
            checked = [r for r in results if r.outcome in (Outcome.INSTALLED, Outcome.UNCHANGED)]
            files = sum(len(r.files) for r in checked)
            self.stdout.write(f"--verify: {files} served file(s) of {len(checked)} item(s) hashed; none damaged.")

    def _import(self, run: RunContext) -> tuple[list[ItemResult], list[str]]:
        tftproot = str(run.root.path)
        try:
            with stop_on_signals(), contextlib.ExitStack() as held:
                try:
                    held.enter_context(run.root.lock())
                except (UnsafePath, OSError) as exc:
                    # Cannot make maas/ or its lock: a read-only or full disk, a symlink, no permission.
                    said = describe_os_error(exc, run.root.path) if isinstance(exc, OSError) else str(exc)
                    raise CommandError(f"cannot use TFTP root {tftproot}: {said}", returncode=EXIT_USAGE) from exc
                self._check_http_root(run)
                return self._import_locked(run)
        except Stopped as exc:
            raise CommandError(
                f"{exc}: the run was cancelled; finished items stay installed, nothing half-done is served",
                returncode=exc.exit_code,
            ) from exc
        except LockHeld as exc:
            records.record_locked(tftproot, exc.holder, run.trigger)
            raise CommandError(f"{exc}; nothing done, try again later", returncode=EXIT_LOCKED) from exc
        except UnsafePath as exc:
            # Found during the run (a planted symlink where staging goes): the run is recorded as an error.
            raise CommandError(f"cannot use TFTP root {tftproot}: {exc}", returncode=EXIT_USAGE) from exc

    def _check_http_root(self, run: RunContext) -> None:
        """Exit 2 before any download when the run could not keep files in the HTTP root (a directory another
        user made there: a first run as root), as for the TFTP root."""
        unwritable = run.http_root.unwritable() if run.http_root is not None else None
        if run.http_root is not None and unwritable is not None:
            said = describe_os_error(PermissionError(13, "Permission denied", str(unwritable)), run.http_root.path)
            message = f"cannot use HTTP root {run.http_root.path} (PXEIMPORT_HTTP_ROOT): {said}"
            raise CommandError(message, returncode=EXIT_USAGE)

    def _import_locked(self, run: RunContext) -> tuple[list[ItemResult], list[str]]:
        tftproot = str(run.root.path)
        abandoned = records.abandon_stale_runs(tftproot)
        if abandoned and self.verbosity >= 1:
            self.stdout.write(self.style.NOTICE(f"Marked {abandoned} interrupted earlier run(s) abandoned."))
        row = records.start_run(tftproot, run.trigger, narrowed=not run.retire)

        def on_result(result: ItemResult) -> None:
            records.record_result(row, result)
            self._say(item_lines(result, self.verbosity))

        display = self._progress_display()
        importer = Importer(
            run.root,
            run.fetcher,
            on_result=on_result,
            menus=run.menus,
            jobs=run.jobs,
            max_file_bytes=run.max_file_bytes,
            progress=display.update if display else None,
            protect=publishing.protector(run.root),
            verify=run.verify,
            accept_loader_change=run.accept_loader_change,
            retire=run.retire,
            http_root=run.http_root,
        )
        try:
            with display or contextlib.nullcontext():
                results = importer.run(run.items)
        except Stopped as exc:
            records.cancel_run(row, str(exc), importer.results, run.fetcher.bytes_downloaded)
            raise
        except BaseException as exc:
            records.fail_run(row, f"{type(exc).__name__}: {exc}")
            raise
        for menu in importer.menu_results:
            self._say(menu_lines(menu, self.verbosity))
        if self.verbosity >= 1:
            self._say([Line(line, "notice") for line in importer.housekeeping])
        secure = served_judgement(run.root)  # what a Secure Boot node meets in what is served now
        unbootable = loaderless(run.root)
        self._say([Line(f"Warning: {warning}", "warning") for warning in [*unbootable, *secure.warnings]])
        if self.verbosity >= 1:
            self._say([Line(f"Note: {note}", "notice") for note in secure.notes])
        records.finish_run(row, results, run.fetcher.bytes_downloaded)
        records.add_changes(row, [*filter(None, map(menu_change, importer.menu_results)), *importer.housekeeping])
        try:  # a region: publish what is live for the racks (docs/operator/region-and-racks.md)
            published = publishing.after_import(run.root, run.items, run.menus)
        except (OSError, RegionKeyError) as exc:
            records.add_errors(row, [f"publishing for racks failed: {exc}"])
            raise CommandError(
                f"publishing for racks failed: {exc}; racks keep the previous index", returncode=EXIT_FAILED
            ) from exc
        if published is not None and published.changed and self.verbosity >= 1:
            self.stdout.write(f"Published {len(published.publication.items)} live sets for racks in {published.path}")
        menu_errors = [m.error for m in importer.menu_results if m.error]
        menu_warnings = [w for m in importer.menu_results for w in m.warnings]
        records.add_warnings(row, [*run.warnings, *menu_warnings, *unbootable, *secure.warnings])
        if menu_errors:
            records.add_errors(row, menu_errors)
        return results, menu_errors

    def _dry_run(self, run: RunContext) -> tuple[list[ItemResult], list[str]]:
        # What would stop the real run (permissions, the lock), said before the plan, which is made anyway.
        unwritable = run.http_root.unwritable() if run.http_root is not None else None
        http_blockers = (
            [f"{unwritable} (in PXEIMPORT_HTTP_ROOT) is not writable by uid {os.geteuid()}"] if unwritable else []
        )
        for blocker in [*blockers(run.root), *http_blockers]:
            self.stderr.write(self.style.WARNING(f"WARNING: a real run would stop: {blocker}"))
        importer = Importer(
            run.root,
            run.fetcher,
            jobs=run.jobs,
            max_file_bytes=run.max_file_bytes,
            protect=publishing.protector(run.root),
            verify=run.verify,
            accept_loader_change=run.accept_loader_change,
            retire=run.retire,
            http_root=run.http_root,
        )
        results = importer.run(run.items, dry_run=True)
        if self.verbosity >= 1:
            for line in dry_run_table(results):
                self.stdout.write(line)
        self._say([line for r in results for line in item_lines(r, 0)])
        for menu in importer.menu_results:  # what a real run would also do: menus, retire, delete, open up
            self._say(menu_lines(menu, self.verbosity))
        if self.verbosity >= 1:
            self._say([Line(line, "notice") for line in importer.housekeeping])
            if publishing.enabled():  # what it publishes depends on what the run installs
                self.stdout.write(
                    f"A region: would publish the live sets for racks in {settings.PXEIMPORT_PUBLISH_ROOT}"
                )
        return results, [m.error for m in importer.menu_results if m.error]

    def _say(self, lines: list[Line]) -> None:
        styles = {
            "success": self.style.SUCCESS,
            "notice": self.style.NOTICE,
            "warning": self.style.WARNING,
            "error": self.style.ERROR,
        }
        for line in lines:
            style = styles.get(line.tone)
            text = style(line.text) if style else line.text
            (self.stderr if line.to_stderr else self.stdout).write(text)

    def _progress_display(self) -> TerminalProgress | None:
        """Bars per file and for the run, on a terminal at -v1 and up; nothing for cron or a pipe."""
        if self.verbosity < 1 or not self.stdout.isatty():
            return None
        return TerminalProgress(sys.stdout)


def _sha256(value: str) -> str:
    """--iso-sha256's value: 64 hex digits, lower-cased (argparse's error otherwise: exit 2)."""
    if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a SHA-256 (64 hexadecimal digits)")
    return value.lower()
