"""Each rack against the region's current index, as the admin and /metrics show it, judged by the region's
clock alone: unreachable, failed, clock skew, behind or in sync, and since when.

- unreachable: nothing heard for more than two safety-net periods (PXEIMPORT_RACK_SYNC_SECONDS; a rack in
  a long sync says "still syncing" twice per period), or asked to converge and silent for longer than
  PXEIMPORT_RACK_ANSWER_SECONDS while not in a sync. What it reported last may be long out of date.
- failed: its last sync, or an item of it, failed (each item's reason is on the rack's page).
- clock skew: its clock and the region's web server's (the index's HTTP Date) differ by more than
  PXEIMPORT_RACK_CLOCK_SKEW_SECONDS: it may refuse a fresh index as "not valid yet", or accept a stale one.
- behind: it lacks a version the index names, serves one with other kernel options than the index's, or still
  serves what the index no longer lists (its last report names it). In sync: it serves every one, with the
  index's options, and nothing the index withdrew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pxeimport.lib import redact_text
from pxeimport.models import Rack
from pxeimport.publication import Publication, read_published

IN_SYNC = "in sync"
BEHIND = "behind"
FAILED = "failed"
UNREACHABLE = "unreachable"
CLOCK_SKEW = "clock skew"
UNKNOWN = "unknown"
STATES = (IN_SYNC, BEHIND, FAILED, UNREACHABLE, CLOCK_SKEW, UNKNOWN)
# Shown in the banner at once, whatever PXEIMPORT_RACK_LAG_MINUTES says.
ALARMING = (UNREACHABLE, CLOCK_SKEW)


@dataclass(frozen=True)
class RackStatus:
    rack: Rack
    state: str
    since: datetime | None
    detail: str = ""

    def lag_seconds(self, now: datetime) -> float:
        """How long the rack has not served the region's index (0 when in sync)."""
        if self.state == IN_SYNC or self.since is None:
            return 0.0
        return max(0.0, (now - self.since).total_seconds())


def publication() -> Publication | None:
    root = settings.PXEIMPORT_PUBLISH_ROOT
    return read_published(root) if root is not None else None


def rack_status(rack: Rack, current: Publication | None, now: datetime | None = None) -> RackStatus:
    """The rack's state against `current` (the region's index) at `now` (default: the region's clock now)."""
    now = now or timezone.now()
    silent = _unreachable(rack, now)
    if silent:
        return RackStatus(rack, UNREACHABLE, rack.last_seen, silent)
    items = {(s.arch, s.kind, s.release): s for s in rack.items.all()}
    failing = [s for s in items.values() if s.error]
    if rack.last_error or failing:
        since = min([t for t in [rack.failing_since, *(s.failing_since for s in failing)] if t], default=None)
        reasons = "; ".join(f"{s.arch}/{s.release or 'loader'}: {s.error}" for s in failing)
        detail = reasons if failing and rack.last_error.endswith("item(s) failed") else rack.last_error or reasons
        return RackStatus(rack, FAILED, since, detail)
    skew = rack.clock_offset
    if skew is not None and abs(skew) > settings.PXEIMPORT_RACK_CLOCK_SKEW_SECONDS:
        way = "ahead of" if skew > 0 else "behind"
        risk = (
            "its logs and its runs' times are off, and it judges the index's age wrongly"
            if skew > 0
            else "it may refuse a fresh index as not valid yet"
        )
        detail = (
            f"its clock is {abs(skew):.0f} s {way} the region's web server (more than "
            f"PXEIMPORT_RACK_CLOCK_SKEW_SECONDS={settings.PXEIMPORT_RACK_CLOCK_SKEW_SECONDS:g}): fix its NTP; {risk}"
        )
        return RackStatus(rack, CLOCK_SKEW, rack.last_sync, detail)
    extra = f"; serves beyond the region's index: {rack.beyond}" if rack.beyond else ""
    if current is None:
        return RackStatus(rack, UNKNOWN, None, "this region has no published index" + extra)
    lacking, withdrawn = _lacking(rack, current), _withdrawn(rack, current)
    if lacking or withdrawn:
        said = ["lacks " + ", ".join(lacking)] if lacking else []
        said += [f"still serves {', '.join(withdrawn)}, which the index no longer lists"] if withdrawn else []
        return RackStatus(rack, BEHIND, current.date, "; ".join(said) + extra)
    synced = [s.synced for s in items.values() if s.synced]
    return RackStatus(rack, IN_SYNC, max(synced) if synced else rack.last_sync, extra.removeprefix("; "))


def _lacking(rack: Rack, current: Publication) -> list[str]:
    """What of `current` the rack's last reports do not say it serves: "<arch>/<release or loader>", with
    " (its kernel options)" where only the options differ."""
    items = {(s.arch, s.kind, s.release): s for s in rack.items.all()}
    lacking = []
    for i in current.items:
        s = items.get((i.arch, i.kind, i.release))
        if s is None or s.region_version != i.version:
            lacking.append(f"{i.arch}/{i.release or 'loader'}")
        elif s.kernel_opts is not None and s.kernel_opts != i.kernel_opts:  # its menus carry the old options
            lacking.append(f"{i.arch}/{i.release or 'loader'} (its kernel options)")
    return lacking


def _withdrawn(rack: Rack, current: Publication) -> list[str]:
    """What the rack's last report said it serves that `current` no longer lists ("<arch>/<release or loader>"):
    a report lists exactly the items of the index the rack took, so these go with its next converge."""
    listed = {(i.arch, i.kind, i.release) for i in current.items}
    rows = sorted((s.arch, s.release, s.kind) for s in rack.items.all() if (s.arch, s.kind, s.release) not in listed)
    return [f"{arch}/{release or 'loader'}" for arch, release, _ in rows]


def racks_behind() -> list[Rack]:
    """The racks whose last reports lack something of the region's current index or name what it withdrew,
    whatever else their state (failed, clock skew, unreachable): those a run that publishes nothing new still
    asks to converge, as the wake-up of the run that published the index may be lost (killed after it
    published)."""
    current = publication()
    if current is None:
        return []
    racks = Rack.objects.prefetch_related("items")
    return [rack for rack in racks if _lacking(rack, current) or _withdrawn(rack, current)]


def _unreachable(rack: Rack, now: datetime) -> str:
    """Why the rack counts as unreachable at `now`, or "" when it does not."""
    period = settings.PXEIMPORT_RACK_SYNC_SECONDS
    silent = (now - rack.last_seen).total_seconds()
    if silent > 2 * period:
        return (
            f"nothing heard from it for {silent / 60:.0f} min, more than two safety-net periods "
            f"(PXEIMPORT_RACK_SYNC_SECONDS={period:g}); what it reported then may be out of date"
        )
    answer = settings.PXEIMPORT_RACK_ANSWER_SECONDS
    if rack.asked and rack.asked > rack.last_seen and rack.syncing_since is None:
        waited = (now - rack.asked).total_seconds()
        if waited > answer:
            return (
                f"asked to converge at {rack.asked:%Y-%m-%d %H:%M:%S} UTC, no answer for {waited:.0f} s "
                f"(PXEIMPORT_RACK_ANSWER_SECONDS={answer:g}): its worker is down, or cannot reach the broker"
            )
    return ""


def all_statuses(now: datetime | None = None) -> list[RackStatus]:
    current = publication()
    return [rack_status(rack, current, now) for rack in Rack.objects.prefetch_related("items")]


def lagging(now: datetime | None = None) -> list[RackStatus]:
    """The admin's banner: racks unreachable or with clock skew at once; racks behind or failing for
    longer than PXEIMPORT_RACK_LAG_MINUTES."""
    now = now or timezone.now()
    limit = timedelta(minutes=settings.PXEIMPORT_RACK_LAG_MINUTES).total_seconds()
    return [s for s in all_statuses(now) if s.state in ALARMING or s.lag_seconds(now) > limit]


def banner(status: RackStatus) -> str:
    """The banner line for a status `lagging` returned (names and errors redacted, cut to 300 characters)."""
    detail = redact_text(status.detail)[:300]
    if status.state == CLOCK_SKEW:
        return f"Rack {status.rack.name} has clock skew (see Racks): {detail}"
    if status.state in ALARMING or status.since is None:
        return f"Rack {status.rack.name} is {status.state} (see Racks): {detail}"
    limit = settings.PXEIMPORT_RACK_LAG_MINUTES
    return (
        f"Rack {status.rack.name} has been {status.state} since {status.since:%Y-%m-%d %H:%M} UTC, longer than "
        f"PXEIMPORT_RACK_LAG_MINUTES={limit:g} (see Racks): {detail}"
    )
