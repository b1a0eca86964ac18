"""Each rack against the region's current index: in sync, behind or failed, and since when (admin, metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pxeimport.models import Rack
from pxeimport.publication import Publication, read_published

IN_SYNC = "in sync"
BEHIND = "behind"
FAILED = "failed"
UNKNOWN = "unknown"
STATES = (IN_SYNC, BEHIND, FAILED, UNKNOWN)


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


def rack_status(rack: Rack, current: Publication | None) -> RackStatus:
    """Failed when its last sync or an item failed; behind when it lacks a version the index names."""
    items = {(s.arch, s.kind, s.release): s for s in rack.items.all()}
    failing = [s for s in items.values() if s.error]
    if rack.last_error or failing:
        since = min([t for t in [rack.failing_since, *(s.failing_since for s in failing)] if t], default=None)
        detail = rack.last_error or "; ".join(f"{s.arch}/{s.release or 'loader'}: {s.error}" for s in failing)
        return RackStatus(rack, FAILED, since, detail)
    if current is None:
        return RackStatus(rack, UNKNOWN, None, "this region has no published index")
    lacking = [
        f"{i.arch}/{i.release or 'loader'}"
        for i in current.items
        if (s := items.get((i.arch, i.kind, i.release))) is None or s.region_version != i.version
    ]
    if lacking:
        return RackStatus(rack, BEHIND, current.date, "lacks " + ", ".join(lacking))
    synced = [s.synced for s in items.values() if s.synced]
    return RackStatus(rack, IN_SYNC, max(synced) if synced else rack.last_sync)


def all_statuses() -> list[RackStatus]:
    current = publication()
    return [rack_status(rack, current) for rack in Rack.objects.prefetch_related("items")]


def lagging(now: datetime | None = None) -> list[RackStatus]:
    """Racks behind or failing for longer than PXEIMPORT_RACK_LAG_MINUTES: the admin's banner."""
    now = now or timezone.now()
    limit = timedelta(minutes=settings.PXEIMPORT_RACK_LAG_MINUTES).total_seconds()
    return [s for s in all_statuses() if s.lag_seconds(now) > limit]
