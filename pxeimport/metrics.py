"""The region's Prometheus metrics: last import per item (age, outcome, bytes), each rack's lag and state.

Served at /metrics in Prometheus's text format (prometheus-client), computed from the database at
each scrape. Access: with PXEIMPORT_METRICS_TOKEN set, `Authorization: Bearer <token>` (what a
Prometheus scrape job sends with `authorization: {credentials: ...}`); a logged-in staff user
may always look. Anyone else gets 403: versions and errors describe the site's boot servers.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pxeimport.models import InstalledFile, ItemState
from pxeimport.racks import STATES, all_statuses


class _Collector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        labels = ["source", "arch", "release", "kind"]
        checked = GaugeMetricFamily(
            "pxeimport_item_last_check_timestamp_seconds", "Last check of an item.", labels=labels
        )
        age = GaugeMetricFamily(
            "pxeimport_item_last_check_age_seconds", "Seconds since an item was checked.", labels=labels
        )
        ok = GaugeMetricFamily("pxeimport_item_ok", "1 when the item's last check succeeded.", labels=labels)
        size = GaugeMetricFamily("pxeimport_item_live_bytes", "Bytes of the item's live files.", labels=labels)
        for state in ItemState.objects.select_related("source"):
            values = [state.source.name if state.source else state.source_url, state.arch, state.release, state.kind]
            checked.add_metric(values, state.checked.timestamp())
            age.add_metric(values, (now - state.checked).total_seconds())
            ok.add_metric(values, 0.0 if state.last_error else 1.0)
            size.add_metric(values, float(_live_bytes(state)))
        yield from (checked, age, ok, size)
        lag = GaugeMetricFamily(
            "pxeimport_rack_lag_seconds", "Seconds a rack has not served the region's index.", labels=["rack"]
        )
        rack_state = GaugeMetricFamily(
            "pxeimport_rack_state", "1 for the rack's current state.", labels=["rack", "state"]
        )
        pulled = GaugeMetricFamily(
            "pxeimport_rack_last_sync_bytes", "Bytes the rack's last sync pulled.", labels=["rack"]
        )
        offset = GaugeMetricFamily(
            "pxeimport_rack_clock_offset_seconds",
            "Seconds the rack's clock was ahead of the region's web server at its last sync (negative: behind).",
            labels=["rack"],
        )
        heard = GaugeMetricFamily(
            "pxeimport_rack_last_seen_age_seconds",
            "Seconds since the rack's last report (the region's clock).",
            labels=["rack"],
        )
        for status in all_statuses(now):
            name = status.rack.name
            lag.add_metric([name], status.lag_seconds(now))
            pulled.add_metric([name], float(status.rack.last_sync_bytes))
            heard.add_metric([name], (now - status.rack.last_seen).total_seconds())
            if status.rack.clock_offset is not None:
                offset.add_metric([name], status.rack.clock_offset)
            for state_name in STATES:
                rack_state.add_metric([name, state_name], 1.0 if status.state == state_name else 0.0)
        yield from (lag, rack_state, pulled, offset, heard)


def _live_bytes(state: ItemState) -> int:
    """The sizes of the files of the item's live version, from its newest install row."""
    files = InstalledFile.objects.filter(
        install__arch=state.arch,
        install__release=state.release,
        install__kind=state.kind,
        install__version=state.live_version,
        install__source_url=state.source_url,
    ).order_by("-install__installed")
    seen: dict[str, int] = {}
    for f in files:
        seen.setdefault(f.name, f.size)
    return sum(seen.values())


def _allowed(request: HttpRequest) -> bool:
    token = settings.PXEIMPORT_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    return bool(request.user.is_authenticated and request.user.is_staff)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(
            "metrics: staff login or PXEIMPORT_METRICS_TOKEN bearer token required\n",
            status=403,
            content_type="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
