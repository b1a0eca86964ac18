"""What the operator's dashboard shows: warnings about the last run and a stale schedule, and every item's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html

from pxeimport.lib import redact_text, redact_url
from pxeimport.models import ImportRun, ItemState, Rack, RunStatus
from pxeimport.racks import lagging

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


def health(now: datetime | None = None) -> Health:
    """One query: the latest run that tried. Banners when it did not succeed, and when it finished (or,
    with none, nothing finished) more than PXEIMPORT_STALE_HOURS ago: then cron or the timer is broken."""
    now = now or timezone.now()
    stale_after = timedelta(hours=settings.PXEIMPORT_STALE_HOURS)
    last = ImportRun.objects.exclude(status__in=_NOT_TRIED).first()
    racks = _rack_banners(now)
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


def _rack_banners(now: datetime) -> list[Banner]:
    """A region's racks behind or failing beyond PXEIMPORT_RACK_LAG_MINUTES (none without racks)."""
    if not Rack.objects.exists():
        return []
    limit = settings.PXEIMPORT_RACK_LAG_MINUTES
    return [
        Banner(
            "warning",
            f"Rack {status.rack.name} has been {status.state} since {_when(status.since)}, longer than "
            f"PXEIMPORT_RACK_LAG_MINUTES={limit:g} (see Racks): {redact_text(status.detail)[:200]}",
        )
        for status in lagging(now)
        if status.since is not None
    ]


@dataclass(frozen=True)
class ItemRow:
    state: ItemState
    # Not checked by the latest run that tried: deselected, or a source disabled since.
    not_checked_lately: bool

    @property
    def source(self) -> str:
        return self.state.source.name if self.state.source else redact_url(self.state.source_url)

    @property
    def error(self) -> str:
        return redact_text(self.state.last_error)


def item_rows(last_tried: ImportRun | None) -> list[ItemRow]:
    """Every item the importer has checked, in the status page's order; one query."""
    states = ItemState.objects.select_related("source")
    return [ItemRow(s, last_tried is not None and s.checked < last_tried.started) for s in states]


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
