"""What the operator's dashboard shows: warnings about the last run and a stale schedule, and every item's state.

All of it is about the configured TFTP root (PXEIMPORT_TFTPROOT) and its saved selection: runs into other roots
and runs narrowed on the command line neither colour it nor raise its banners; what an item serves is read
from the root itself (importer.served), so a retired or deleted release never shows as live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.html import format_html

from pxeimport.importer import Served, served
from pxeimport.lib import redact_text, redact_url
from pxeimport.models import BootSource, ImportRun, ItemState, Rack, RunStatus
from pxeimport.racks import banner as rack_banner
from pxeimport.racks import lagging
from pxeimport.tftproot import TftpRoot

# A run in these states did not try the items (still going, or another held the lock): it says
# nothing about whether imports work.
_NOT_TRIED = (RunStatus.RUNNING, RunStatus.LOCKED)


@dataclass(frozen=True)
class Banner:
    level: str  # "error" or "warning", as the admin's message list styles them
    message: str
    run: ImportRun | None = None


@dataclass(frozen=True)
class Health:
    """The latest run that tried the items (succeeded, failed, errored, died or was stopped) and the banners."""

    last_tried: ImportRun | None
    banners: list[Banner]


def configured_root() -> TftpRoot:
    """The TFTP root this installation serves (PXEIMPORT_TFTPROOT), as runs record it."""
    return TftpRoot(Path(settings.PXEIMPORT_TFTPROOT).absolute(), settings.PXEIMPORT_GRACE_SECONDS)


def selection_runs() -> QuerySet[ImportRun]:
    """Runs of the saved selection into the configured root: the ones the dashboard speaks for."""
    return ImportRun.objects.filter(tftproot=str(configured_root().path), narrowed=False)


def health(now: datetime | None = None) -> Health:
    """The latest run of the saved selection into the configured root that tried. Banners when it did not
    succeed, when it finished (or, with none, nothing finished) more than PXEIMPORT_STALE_HOURS ago (then
    cron or the timer is broken), and for an arch whose loaders are served with no boot menu entry."""
    now = now or timezone.now()
    stale_after = timedelta(hours=settings.PXEIMPORT_STALE_HOURS)
    last = selection_runs().exclude(status__in=_NOT_TRIED).first()
    racks = [*_unbootable_banners(), *_iso_banners(), *_rack_banners(now)]
    if last is None:
        message = (
            "No import has finished yet. Start one with “Import now”, and schedule "
            "manage.py import_pxe_files with cron or the systemd timer (docs/operator/install.md)."
        )
        return Health(None, [Banner("warning", message), *racks])
    banners = []
    if last.status != RunStatus.SUCCEEDED:
        first_error = redact_text(last.error_summary.partition("\n")[0])
        detail = f": {first_error}" if first_error else ""
        more = f" ({last.items_failed} items failed)" if last.items_failed > 1 else ""
        message = f"The last import run, started {_when(last.started)}, did not succeed: {last.get_status_display()}"
        banners.append(Banner("error", f"{message}{more}{detail}", last))
    for warning in filter(None, last.warnings.splitlines()):
        banners.append(Banner("warning", f"The last import run warns: {redact_text(warning)}", last))
    finished = last.finished or last.started
    if now - finished > stale_after:
        hours = (now - finished).total_seconds() / 3600
        banners.append(
            Banner(
                "error",
                f"No import has finished for {hours:.0f} hours (the last at {_when(finished)}; the limit is "
                f"PXEIMPORT_STALE_HOURS={settings.PXEIMPORT_STALE_HOURS:g}): is the cron job or the "
                "pxeimport-import.timer running?",
            )
        )
    return Health(last, [*banners, *racks])


def _unbootable_banners() -> list[Banner]:
    """An arch of the configured root that serves pre-boot loaders but no menu entry: its nodes load a loader
    and find nothing to boot."""
    root = configured_root()
    try:
        arches = root.arches()
        lonely = [a for a in arches if root.served_loaders(a) and not root.installed_releases(a)]
    except (OSError, ValueError):
        return []
    return [
        Banner(
            "error",
            f"{arch}: pre-boot loaders are served but no installer is: {arch} nodes that network-boot get a "
            "loader and no menu entry (see Item status and the last run)",
        )
        for arch in lonely
    ]


def _iso_banners() -> list[Banner]:
    """An enabled ubuntu-iso source with no HTTP root: its menus name Ubuntu's copy of the ISO, which goes."""
    if settings.PXEIMPORT_HTTP_ROOT and settings.PXEIMPORT_HTTP_URL:
        return []
    names = list(BootSource.objects.filter(enabled=True, layout="ubuntu-iso").values_list("name", flat=True))
    return [
        Banner(
            "warning",
            f"Boot source {name!r} (ubuntu-iso) and no HTTP root (PXEIMPORT_HTTP_ROOT, PXEIMPORT_HTTP_URL): its "
            "menus send nodes to Ubuntu's own copy of the ISO, which Ubuntu moves away at each point release; "
            "installs then fail mid-boot with 404 until the next import. Keep the ISO here: "
            "docs/operator/ubuntu.md, the HTTP root.",
        )
        for name in names
    ]


def _rack_banners(now: datetime) -> list[Banner]:
    """A region's racks unreachable or with clock skew, or behind or failing beyond PXEIMPORT_RACK_LAG_MINUTES
    (none without racks)."""
    if not Rack.objects.exists():
        return []
    return [Banner("warning", rack_banner(status)) for status in lagging(now)]


@dataclass(frozen=True)
class ItemRow:
    state: ItemState
    # Not checked by the latest run that tried: deselected, or a source disabled since.
    not_checked_lately: bool
    # What the configured root serves for it, read from the disk.
    served: Served

    @property
    def source(self) -> str:
        return self.state.source.name if self.state.source else redact_url(self.state.source_url)

    @property
    def error(self) -> str:
        return redact_text(self.state.last_error)


def item_rows(last_tried: ImportRun | None) -> tuple[list[ItemRow], list[ItemRow]]:
    """(the saved selection's items last checked in the configured root, every other item: one-off --archive
    runs and other roots), in the status page's order, each with what the root serves for it."""
    root = configured_root()
    ours: list[ItemRow] = []
    others: list[ItemRow] = []
    for s in ItemState.objects.select_related("source", "last_run"):
        row = ItemRow(
            s,
            last_tried is not None and s.checked < last_tried.started,
            served(root, s.arch, s.release, s.kind),
        )
        here = s.last_run is None or s.last_run.tftproot == str(root.path)
        (ours if s.source is not None and here else others).append(row)
    return ours, others


def _when(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


STATUS_COLOURS = {
    RunStatus.SUCCEEDED: "#2e7d32",
    RunStatus.FAILED: "#c62828",
    RunStatus.ERROR: "#c62828",
    RunStatus.ABANDONED: "#c62828",
    RunStatus.CANCELLED: "#ef6c00",
    RunStatus.LOCKED: "#ef6c00",
    RunStatus.RUNNING: "#1565c0",
}


def status_badge(run: ImportRun) -> str:
    colour = STATUS_COLOURS.get(RunStatus(run.status), "#555")
    return format_html('<strong style="color: {}">{}</strong>', colour, run.get_status_display())


def duration(run: ImportRun) -> str:
    if run.finished is None:
        return "-"
    return f"{(run.finished - run.started).total_seconds():.1f} s"
