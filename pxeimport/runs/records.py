"""The database side of a run: ImportRun rows, one Install row per atomic install, their files, item states."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from pxeimport.items import Item, ItemKind, ItemResult, Outcome
from pxeimport.models import ImportRun, Install, InstalledFile, ItemState, RunStatus, Trigger


def abandon_stale_runs(tftproot: str) -> int:
    """Mark runs left "running" on this root as abandoned. Call only while holding its lock."""
    return ImportRun.objects.filter(tftproot=tftproot, status=RunStatus.RUNNING).update(
        status=RunStatus.ABANDONED, finished=timezone.now(), error_summary="the process died before finishing"
    )


def start_run(tftproot: str, trigger: str = Trigger.COMMAND, *, narrowed: bool = False) -> ImportRun:
    return ImportRun.objects.create(
        started=timezone.now(),
        tftproot=tftproot,
        trigger=trigger,
        pid=os.getpid(),
        status=RunStatus.RUNNING,
        narrowed=narrowed,
    )


def add_changes(run: ImportRun, changes: list[str]) -> ImportRun:
    """Record what the run did besides installing (menus, retirements, deletions), one a line."""
    if changes:
        run.changes = "\n".join(filter(None, [run.changes, *changes]))
        run.save(update_fields=["changes"])
    return run


def record_locked(tftproot: str, holder: str, trigger: str = Trigger.COMMAND) -> ImportRun:
    now = timezone.now()
    return ImportRun.objects.create(
        started=now,
        finished=now,
        tftproot=tftproot,
        trigger=trigger,
        pid=os.getpid(),
        status=RunStatus.LOCKED,
        error_summary=f"another import holds the lock: {holder}",
    )


def record_result(run: ImportRun, result: ItemResult) -> Install | None:
    """Update the item's state; for an installed item also write an Install row with its files.

    Returns the Install row, or None for other outcomes. A dry run's PLANNED results change nothing.
    """
    if result.outcome == Outcome.PLANNED:
        return None
    with transaction.atomic():
        install = _record_install(run, result) if result.outcome == Outcome.INSTALLED else None
        update_item_state(run, result, install)
    return install


def _record_install(run: ImportRun, result: ItemResult) -> Install:
    item = result.item
    install = Install.objects.create(
        run=run,
        source_id=item.source.key,
        source_url=item.source.url,
        arch=item.arch,
        release=item.release,
        kind=_kind(item),
        version=result.version or "",
        previous_version=result.previous_version or "",
        path=str(result.path or ""),
        installed=timezone.now(),
    )
    InstalledFile.objects.bulk_create(
        InstalledFile(
            install=install,
            name=f.name,
            sha256=f.sha256,
            size=f.size or 0,
            url=f.url,
            downloaded=f.downloaded,
            signed_by=result.signed_by,
        )
        for f in result.files
    )
    return install


def update_item_state(run: ImportRun, result: ItemResult, install: Install | None = None) -> ItemState:
    """Bring the item's ItemState row up to date with one checked result (any outcome but PLANNED).

    - live version: the result's version after an install or an unchanged check; after a failure or a
      skip, the result's previous_version when the importer knew it, else what the row already said;
    - installed: the Install row's time; for an item first seen unchanged, the latest recorded install of
      that version (None when it went live before records were kept);
    - upstream version: what the index announced, blank when it could not be read (or had no loader);
    - last error: the failure's message, blank after any other outcome; failing since: the first failure.
    """
    item = result.item
    now = timezone.now()
    kind = _kind(item)
    if item.source.key is not None:
        found = ItemState.objects.filter(source_id=item.source.key)
    else:
        found = ItemState.objects.filter(source__isnull=True, source_url=item.source.url)
    state = found.filter(arch=item.arch, release=item.release, kind=kind).select_for_update().first()
    if state is None:
        state = ItemState(source_id=item.source.key, arch=item.arch, release=item.release, kind=kind)

    failed = result.outcome == Outcome.FAILED
    if result.outcome in (Outcome.INSTALLED, Outcome.UNCHANGED):
        live = result.version or ""
    else:
        live = result.previous_version or state.live_version
    if install is not None:
        state.installed = install.installed
    elif live != state.live_version or (live and state.installed is None):
        state.installed = _installed_at(item, kind, live)
    state.live_version = live
    state.source_url = item.source.url
    state.upstream_version = result.version or ""
    state.outcome = result.outcome
    state.last_error = result.message if failed else ""
    state.failing_since = (state.failing_since or now) if failed else None
    state.checked = now
    state.last_run = run
    state.save()
    return state


def _installed_at(item: Item, kind: str, version: str) -> datetime | None:
    if not version:
        return None
    return (
        Install.objects.filter(arch=item.arch, release=item.release, kind=kind, version=version)
        .values_list("installed", flat=True)
        .order_by("-installed")
        .first()
    )


def _kind(item: Item) -> ItemKind:
    return ItemKind(item.kind)


def finish_run(run: ImportRun, results: Iterable[ItemResult], bytes_downloaded: int) -> ImportRun:
    results = list(results)
    counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in Outcome}
    run.finished = timezone.now()
    run.bytes_downloaded = bytes_downloaded
    run.items_installed = counts[Outcome.INSTALLED]
    run.items_unchanged = counts[Outcome.UNCHANGED]
    run.items_skipped = counts[Outcome.SKIPPED]
    run.items_failed = counts[Outcome.FAILED]
    problems = [f"{r.item}: {r.message}" for r in results if r.outcome == Outcome.FAILED]
    # A repaired item succeeded, but what was served had been damaged: the row says so.
    problems += [f"{r.item}: repaired: {r.repaired}" for r in results if r.repaired]
    run.error_summary = "\n".join(problems)
    run.status = RunStatus.FAILED if run.items_failed else RunStatus.SUCCEEDED
    run.save()
    return run


def cancel_run(run: ImportRun, message: str, results: Iterable[ItemResult], bytes_downloaded: int) -> ImportRun:
    """A run stopped by a signal: its finished items are counted, its status says cancelled."""
    finish_run(run, results, bytes_downloaded)
    run.status = RunStatus.CANCELLED
    run.error_summary = "\n".join(filter(None, [message, run.error_summary]))
    run.save()
    return run


def fail_run(run: ImportRun, message: str) -> ImportRun:
    run.finished = timezone.now()
    run.status = RunStatus.ERROR
    run.error_summary = message
    run.save()
    return run


def add_warnings(run: ImportRun, warnings: list[str]) -> ImportRun:
    """What the operator must know but did not fail the run (e.g. a grub.cfg nodes read instead of
    pxeimport's): kept in the run's `warnings`, one a line, for the status page."""
    if warnings:
        run.warnings = "\n".join(filter(None, [run.warnings, *warnings]))
        run.save(update_fields=["warnings"])
    return run


def add_errors(run: ImportRun, errors: list[str]) -> ImportRun:
    """Errors outside any item (boot menus) also fail the run and are listed in its summary."""
    run.error_summary = "\n".join(filter(None, [run.error_summary, *errors]))
    run.status = RunStatus.FAILED
    run.save(update_fields=["error_summary", "status"])
    return run
