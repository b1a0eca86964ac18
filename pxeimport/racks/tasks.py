"""Celery over RabbitMQ between the region and its racks: wake-ups and reports, never file bytes.

Queues (durable; RabbitMQ keeps them and their persistent messages across restarts):

- one per rack, `<PXEIMPORT_RACK_QUEUE_PREFIX><name>`, consumed by that rack's `rack_worker` only:
  `converge` tasks. A task means "converge to the region's latest index", not "apply this delta":
  duplicates and reordering are harmless, so the region may send one whenever it likes (after an
  import that changed the index, from the safety net, from "Sync now").
- the region's, PXEIMPORT_REGION_QUEUE, consumed by `region_worker`: racks' `report`s, and the
  `safety_net` its embedded beat sends every PXEIMPORT_RACK_SYNC_SECONDS.

Delivery: late acks (a task is acked when it has finished, so a rack killed mid-sync gets the
message again when it comes back), prefetch 1 and the solo pool (one task at a time per rack;
RabbitMQ holds the rest). A converge message expires after PXEIMPORT_RACK_SYNC_SECONDS: a rack
that was down for a week does not work through hundreds of them; it reconciles on start instead,
and the safety net sends fresh ones.

RabbitMQ's consumer_timeout (30 min by default, rabbitmq.conf) closes a channel whose delivery
stays unacked longer than that; with late acks a multi-gigabyte sync over a slow link can pass
it. We keep late acks and accept what follows: the channel is closed, Celery reconnects, the
message is delivered again, and the second converge finds the work done (files are verified and
installed by then, or resumed: downloads resume) and costs one 304. Operators syncing very large
images over slow links raise consumer_timeout (e.g. `consumer_timeout = 14400000`, 4 h) on the
broker. Acking early instead would lose the wake-up when a rack dies mid-sync; the reconcile on
start and the safety net would still converge it, but later.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Celery
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pxeimport.models import Rack, RackItemState

log = logging.getLogger(__name__)

CONVERGE = "pxeimport.rack.converge"
REPORT = "pxeimport.region.report"
SAFETY_NET = "pxeimport.region.safety_net"


def make_app() -> Any:
    """The Celery app of both sides, configured from Django settings (the broker is not contacted here)."""
    app = Celery("pxeimport")
    app.conf.update(
        broker_url=settings.CELERY_BROKER_URL or None,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue=settings.PXEIMPORT_REGION_QUEUE,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_hijack_root_logger=False,
        beat_schedule={
            "racks-safety-net": {
                "task": SAFETY_NET,
                "schedule": settings.PXEIMPORT_RACK_SYNC_SECONDS,
                "options": {"queue": settings.PXEIMPORT_REGION_QUEUE, "expires": settings.PXEIMPORT_RACK_SYNC_SECONDS},
            }
        },
    )
    return app


app = make_app()


def rack_queue(name: str) -> str:
    return f"{settings.PXEIMPORT_RACK_QUEUE_PREFIX}{name}"


def ask_to_converge(queue: str, reason: str) -> None:
    """Send one converge to `queue` (persistent; it expires when the next safety net would send anew)."""
    app.send_task(CONVERGE, args=[reason], queue=queue, expires=settings.PXEIMPORT_RACK_SYNC_SECONDS)


def ask_racks_to_converge(reason: str) -> int:
    """Ask every known rack to converge now; return how many were asked."""
    racks = list(Rack.objects.values_list("queue", flat=True))
    for queue in racks:
        ask_to_converge(queue, reason)
    log.info("asked %d rack(s) to converge (%s)", len(racks), reason)
    return len(racks)


def send_report(payload: dict[str, Any]) -> None:
    app.send_task(REPORT, args=[payload], queue=settings.PXEIMPORT_REGION_QUEUE)


def record_report(payload: dict[str, Any]) -> Rack:
    """Store a rack's report (racksync.converge's payload); a rack unknown so far is added (it announced itself).

    Items the report lists replace the rack's rows; rows for items the region no longer publishes go.
    An item whose sync failed keeps the region version it served before.
    """
    now = timezone.now()
    finished = _when(payload.get("finished")) or now
    with transaction.atomic():
        rack, _ = Rack.objects.select_for_update().get_or_create(
            name=payload["rack"], defaults={"queue": payload["queue"], "first_seen": now, "last_seen": now}
        )
        rack.queue, rack.last_seen = payload["queue"], now
        if payload.get("hello"):
            rack.save()
            return rack
        error = payload.get("error", "")
        rack.last_sync, rack.last_sync_bytes = finished, int(payload.get("bytes", 0))
        rack.failing_since = (rack.failing_since or finished) if error else None
        rack.last_error = error
        rack.save()
        if payload.get("index_read"):
            keep = []
            for item in payload.get("items", []):
                state, _ = RackItemState.objects.get_or_create(
                    rack=rack, arch=item["arch"], kind=item["kind"], release=item["release"]
                )
                keep.append(state.pk)
                if item.get("error"):
                    state.error = item["error"]
                    state.failing_since = state.failing_since or finished
                else:
                    state.error, state.failing_since = "", None
                    state.region_version, state.synced = item["region_version"], finished
                state.live_version = item.get("live_version") or state.live_version
                state.bytes_downloaded = int(item.get("bytes", 0))
                state.save()
            rack.items.exclude(pk__in=keep).delete()
    return rack


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _converge(reason: str = "") -> None:
    from pxeimport.racks import rack  # the rack's side: only a rack worker runs this task

    config = rack.current_rack()
    log.info("rack %s: converging (%s)", config.name, reason or "asked")
    send_report(rack.converge(config))


def _report(payload: dict[str, Any]) -> None:
    record_report(payload)


def _safety_net() -> None:
    ask_racks_to_converge("safety net")


converge_task = app.task(name=CONVERGE, acks_late=True, reject_on_worker_lost=True)(_converge)
report_task = app.task(name=REPORT, acks_late=True)(_report)
safety_net_task = app.task(name=SAFETY_NET)(_safety_net)
