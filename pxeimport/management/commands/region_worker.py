"""Run the region's worker: store racks' reports; every PXEIMPORT_RACK_SYNC_SECONDS, ask every rack to converge."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport import racks
from pxeimport.lib import EXIT_USAGE


class Command(BaseCommand):
    help = (
        "Consume the region's queue (PXEIMPORT_REGION_QUEUE on CELERY_BROKER_URL): racks' reports go to the "
        "database, and an embedded beat sends the safety net (every rack: converge) every PXEIMPORT_RACK_SYNC_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO).")
        parser.add_argument(
            "--schedule",
            default=str(settings.BASE_DIR / "var" / "celerybeat-schedule"),
            metavar="FILE",
            help="Where the beat keeps when it last ran (default var/celerybeat-schedule).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_BROKER_URL:
            raise CommandError(
                "CELERY_BROKER_URL is not set: the region worker needs the broker", returncode=EXIT_USAGE
            )
        racks.app.worker_main(
            [
                "worker",
                "--queues",
                settings.PXEIMPORT_REGION_QUEUE,
                "--pool",
                "solo",
                "--beat",
                "--schedule",
                options["schedule"],
                "--hostname",
                f"{settings.PXEIMPORT_REGION_QUEUE}@%h",  # exclusive on the broker: one per region queue
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                options["loglevel"],
            ]
        )
