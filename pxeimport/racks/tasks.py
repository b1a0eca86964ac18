"""Celery over RabbitMQ between the region and its racks: wake-ups and reports, never file bytes.

Queues (durable; RabbitMQ keeps them and their persistent messages across restarts), named after the
region's key id so that regions sharing a broker never meet (pxeimport.racks.queues):

- one per rack, consumed by that rack's `rack_worker` only: `converge` tasks. A task means "converge
  to the region's latest index", not "apply this delta": duplicates and reordering are harmless, so
  the region may send one whenever it likes (after an import that changed the index, from the safety
  net, from "Sync now"). The queue keeps at most one waiting (x-max-length 1, drop-head), so nothing
  expires by anyone's clock: a rack back from a week away, or one whose clock runs hours fast, gets
  exactly one wake-up.
- the region's, consumed by `region_worker`: racks' `report`s (started, still syncing, finished), and
  the `safety_net` its embedded beat sends every PXEIMPORT_RACK_SYNC_SECONDS.

Delivery: late acks (a task is acked when it has finished, so a rack killed mid-sync gets the
message again when it comes back), prefetch 1 and the solo pool (one task at a time per rack;
RabbitMQ holds the rest).

Reports: the region stamps what it stores with its own clock (a rack's may be wrong); it stores a
report only from a rack following it (the report names the region's key id), with a valid name, and
derives the rack's queue from that name itself, so a forged report can neither add a rack under a
name the admin would show raw nor make `wake_racks` publish to a queue of its choosing.

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
import threading
from typing import Any

from amqp.exceptions import AMQPError  # type: ignore[import-untyped]
from celery import Celery
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.entity import Queue
from kombu.exceptions import KombuError

from pxeimport.lib import InvalidName, check_name, redact_url
from pxeimport.models import Rack, RackItemState
from pxeimport.racks.queues import RACK_QUEUE_ARGUMENTS, rack_queue, region_id, region_queue

log = logging.getLogger(__name__)

CONVERGE = "pxeimport.rack.converge"
REPORT = "pxeimport.region.report"
SAFETY_NET = "pxeimport.region.safety_net"


def make_app() -> Any:
    """The Celery app of both sides, configured from Django settings (the broker is not contacted here;
    the queues are named when first used: their names need the region's key)."""
    app = Celery("pxeimport")
    app.conf.update(
        broker_url=settings.CELERY_BROKER_URL or None,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()


def rack_queue_declaration(name: str) -> Queue:
    """Rack `name`'s queue as both sides declare it (the same arguments, or RabbitMQ refuses the second)."""
    queue = rack_queue(name)
    return Queue(queue, routing_key=queue, durable=True, queue_arguments=RACK_QUEUE_ARGUMENTS)  # type: ignore[no-untyped-call]


def serve_region() -> None:
    """Configure the app as the region worker: its queue, and the safety net on it."""
    queue = region_queue()
    app.conf.task_default_queue = queue
    app.conf.beat_schedule = {
        "racks-safety-net": {
            "task": SAFETY_NET,
            "schedule": settings.PXEIMPORT_RACK_SYNC_SECONDS,
            # Judged by the region worker's own clock, which also sent it.
            "options": {"queue": queue, "expires": settings.PXEIMPORT_RACK_SYNC_SECONDS},
        }
    }


def serve_rack(name: str) -> None:
    """Configure the app as rack `name`'s worker: its queue only, declared with the region's arguments."""
    app.conf.task_queues = [rack_queue_declaration(name)]


class BrokerUnavailable(Exception):
    """The broker could not be reached, or refused this user: nothing was sent."""


def _send(task: str, args: list[Any], queue: Any) -> None:
    """Publish one task (a few quick retries); BrokerUnavailable, in one line, when the broker is not there."""
    policy = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}
    try:
        app.send_task(task, args=args, queue=queue, retry=True, retry_policy=policy)
    except (OSError, KombuError, AMQPError) as exc:
        broker = redact_url(str(settings.CELERY_BROKER_URL))
        raise BrokerUnavailable(f"the broker {broker} cannot be used: {exc or type(exc).__name__}") from exc


def ask_to_converge(name: str, reason: str) -> None:
    """Send one converge to rack `name` (persistent; its queue keeps the newest waiting one only).
    BrokerUnavailable when it cannot be sent."""
    _send(CONVERGE, [reason], rack_queue_declaration(name))


def ask_racks(racks: list[Rack], reason: str) -> int:
    """Ask each of `racks` to converge now and note when (the region's clock); return how many were asked.
    BrokerUnavailable when the broker cannot be used (those asked before it failed are not noted)."""
    for rack in racks:
        ask_to_converge(rack.name, reason)
    # The first ask it has not answered: later asks (the safety net's) must not restart its silence.
    unanswered = Q(asked__isnull=True) | Q(asked__lte=F("last_seen"))
    Rack.objects.filter(unanswered, pk__in=[r.pk for r in racks]).update(asked=timezone.now())
    log.info("asked %d rack(s) to converge (%s)", len(racks), reason)
    return len(racks)


def ask_racks_to_converge(reason: str) -> int:
    """Ask every known rack to converge now; return how many were asked."""
    return ask_racks(list(Rack.objects.all()), reason)


def send_report(payload: dict[str, Any]) -> None:
    _send(REPORT, [payload | {"region": region_id()}], region_queue())


def record_report(payload: dict[str, Any]) -> Rack | None:
    """Store a rack's report (racks.rack.converge's payload, or a "hello", "started" or "syncing" note);
    a rack unknown so far is added (it announced itself). None when the report is ignored (logged):
    it follows another region, or names no valid rack.

    Items the report lists replace the rack's rows; rows for items the region no longer publishes go.
    An item whose sync failed keeps the region version it served before.
    """
    now = timezone.now()  # the region's clock, whatever the rack's says
    if payload.get("region") != region_id():
        log.warning(
            "ignored a report from rack %r following region %r, not this one (%s): two regions share queue names",
            str(payload.get("rack"))[:64],
            str(payload.get("region"))[:64],
            region_id(),
        )
        return None
    try:
        name = check_name("rack", str(payload.get("rack", "")))
    except InvalidName as exc:
        log.warning("ignored a report: %s", exc)
        return None
    with transaction.atomic():
        rack, _ = Rack.objects.select_for_update().get_or_create(
            name=name, defaults={"queue": rack_queue(name), "first_seen": now, "last_seen": now}
        )
        rack.queue, rack.last_seen = rack_queue(name), now
        stage = payload.get("stage", "finished")
        if payload.get("hello") or stage == "syncing":
            rack.save()
            return rack
        if stage == "started":
            rack.syncing_since = now
            rack.save()
            return rack
        error = str(payload.get("error", ""))
        rack.last_sync, rack.last_sync_bytes, rack.syncing_since = now, int(payload.get("bytes", 0)), None
        rack.failing_since = (rack.failing_since or now) if error else None
        rack.last_error = error
        offset = payload.get("clock_offset")
        rack.clock_offset = float(offset) if isinstance(offset, int | float) else None
        rack.beyond = ", ".join(str(b) for b in payload.get("beyond", []))[:2000]
        rack.save()
        if payload.get("index_read"):
            _record_items(rack, payload.get("items", []), now)
    return rack


def _record_items(rack: Rack, items: list[dict[str, Any]], now: Any) -> None:
    keep = []
    for item in items:
        state, _ = RackItemState.objects.get_or_create(
            rack=rack, arch=item["arch"], kind=item["kind"], release=item["release"]
        )
        keep.append(state.pk)
        if item.get("error"):
            state.error = item["error"]
            state.failing_since = state.failing_since or now
        else:
            state.error, state.failing_since = "", None
            state.region_version, state.synced = item["region_version"], now
            state.kernel_opts = item.get("kernel_opts")  # None from a rack worker that does not report them
        state.live_version = item.get("live_version") or state.live_version
        state.bytes_downloaded = int(item.get("bytes", 0))
        state.save()
    rack.items.exclude(pk__in=keep).delete()


def _converge(reason: str = "") -> None:
    from pxeimport.racks import rack  # the rack's side: only a rack worker runs this task

    config = rack.current_rack()
    log.info("rack %s: converging (%s)", config.name, reason or "asked")
    send_report({"rack": config.name, "stage": "started"})
    done = threading.Event()

    def still_syncing() -> None:  # a long sync is not a silent rack: say so twice per safety-net period
        while not done.wait(settings.PXEIMPORT_RACK_SYNC_SECONDS / 2):
            send_report({"rack": config.name, "stage": "syncing"})

    beat = threading.Thread(target=still_syncing, name="pxeimport-still-syncing", daemon=True)
    beat.start()
    try:
        report = rack.converge(config)
    finally:
        done.set()
        beat.join()
    if report.get("error"):  # the rack's own log says it too, not only the region's Racks page
        log.warning("rack %s: %s", config.name, report["error"])
    send_report(report)


def _report(payload: dict[str, Any]) -> None:
    record_report(payload)


def _safety_net() -> None:
    ask_racks_to_converge("safety net")


converge_task = app.task(name=CONVERGE, acks_late=True, reject_on_worker_lost=True)(_converge)
report_task = app.task(name=REPORT, acks_late=True)(_report)
safety_net_task = app.task(name=SAFETY_NET)(_safety_net)
