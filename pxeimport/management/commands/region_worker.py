"""Run the region's worker: store racks' reports; every PXEIMPORT_RACK_SYNC_SECONDS, ask every rack to converge."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport import racks
from pxeimport.lib import EXIT_USAGE
from pxeimport.publication import RegionKeyError


class Command(BaseCommand):
    help = (
        "Consume the region's queue on CELERY_BROKER_URL (pxeimport.<key id>.region, or PXEIMPORT_REGION_QUEUE): "
        "racks' reports go to the database, and an embedded beat sends the safety net (every rack: converge) "
        "every PXEIMPORT_RACK_SYNC_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO).")
        parser.add_argument(
            "--schedule",
            default=str(settings.VAR_DIR / "celerybeat-schedule"),
            metavar="FILE",
            help="Where the beat keeps when it last ran (default var/celerybeat-schedule).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_BROKER_URL:
            raise CommandError(
                "CELERY_BROKER_URL is not set: the region worker needs the broker", returncode=EXIT_USAGE
            )
        try:
            queue = racks.region_queue()  # named after the region's key id: made now if there is none yet
        except RegionKeyError as exc:
            raise CommandError(f"the region's key: {exc}", returncode=EXIT_USAGE) from exc
        racks.serve_region()
        racks.app.worker_main(
            [
                "worker",
                "--queues",
                queue,
                "--pool",
                "solo",
                "--beat",
                "--schedule",
                options["schedule"],
                "--hostname",
                f"{queue}@%h",  # exclusive on the broker: one per region queue
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                options["loglevel"],
            ]
        )
