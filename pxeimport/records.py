"""The database side of a run: ImportRun rows, one Install row per atomic install, their files."""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from pxeimport.importer import LOADER, ItemResult, Outcome
from pxeimport.models import ImportRun, Install, InstalledFile, ItemKind, RunStatus, Trigger


def abandon_stale_runs(tftproot: str) -> int:
    """Mark runs left "running" on this root as abandoned. Call only while holding its lock."""
    return ImportRun.objects.filter(tftproot=tftproot, status=RunStatus.RUNNING).update(
        status=RunStatus.ABANDONED, finished=timezone.now(), error_summary="the process died before finishing"
    )


def start_run(tftproot: str, trigger: str = Trigger.COMMAND) -> ImportRun:
    return ImportRun.objects.create(
        started=timezone.now(), tftproot=tftproot, trigger=trigger, pid=os.getpid(), status=RunStatus.RUNNING
    )


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
    """Write an Install row with its files for an installed item; nothing for other outcomes."""
    if result.outcome != Outcome.INSTALLED:
        return None
    item = result.item
    with transaction.atomic():
        install = Install.objects.create(
            run=run,
            source_id=item.source.key,
            source_url=item.source.url,
            arch=item.arch,
            release=item.release,
            kind=ItemKind.LOADER if item.kind == LOADER else ItemKind.INSTALL,
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


def finish_run(run: ImportRun, results: Iterable[ItemResult], bytes_downloaded: int) -> ImportRun:
    results = list(results)
    counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in Outcome}
    run.finished = timezone.now()
    run.bytes_downloaded = bytes_downloaded
    run.items_installed = counts[Outcome.INSTALLED]
    run.items_unchanged = counts[Outcome.UNCHANGED]
    run.items_skipped = counts[Outcome.SKIPPED]
    run.items_failed = counts[Outcome.FAILED]
    run.error_summary = "\n".join(f"{r.item}: {r.message}" for r in results if r.outcome == Outcome.FAILED)
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


def add_errors(run: ImportRun, errors: list[str]) -> ImportRun:
    """Errors outside any item (boot menus) also fail the run and are listed in its summary."""
    run.error_summary = "\n".join(filter(None, [run.error_summary, *errors]))
    run.status = RunStatus.FAILED
    run.save(update_fields=["error_summary", "status"])
    return run
