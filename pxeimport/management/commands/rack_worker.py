"""Run a rack: a Celery worker on this rack's queue that converges its TFTP root to the region's index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.signals import worker_ready
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport import racks
from pxeimport.lib import EXIT_USAGE
from pxeimport.publication import RegionKeyError


class Command(BaseCommand):
    help = (
        "Consume this rack's queue (CELERY_BROKER_URL; named after the region's key id, from --keyring): each "
        "task mirrors the region's latest signed index into the TFTP root with import_pxe_files --layout region "
        "(exactly what it lists; what it no longer lists is retired). Announces the rack to the region and "
        "converges once at start, so a rack that was down or missed messages catches up by itself."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="This rack's name (its queue is named after it).")
        parser.add_argument("--tftproot", type=Path, required=True, metavar="DIR", help="This rack's TFTP root.")
        parser.add_argument("--region", required=True, metavar="URL", help="The region's PXEIMPORT_PUBLISH_URL.")
        parser.add_argument(
            "--keyring", type=Path, required=True, metavar="FILE", help="The region's keyring (export_region_keyring)."
        )
        parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_BROKER_URL:
            raise CommandError(
                "CELERY_BROKER_URL is not set: a rack worker needs the broker (amqp://...)", returncode=EXIT_USAGE
            )
        try:
            config = racks.rack_config(options["name"], options["tftproot"], options["region"], options["keyring"])
        except racks.RackOptionError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        name = config.name
        racks.configure(config)
        try:
            queue = config.queue  # named after the key in --keyring: the region's
        except RegionKeyError as exc:
            raise CommandError(f"--keyring {options['keyring']}: {exc}", returncode=EXIT_USAGE) from exc
        racks.serve_rack(name)

        def announce_and_reconcile(**_: Any) -> None:
            racks.send_report({"rack": name, "hello": True})
            racks.ask_to_converge(name, "rack worker started")

        worker_ready.connect(announce_and_reconcile, weak=False)
        racks.app.worker_main(
            [
                "worker",
                "--queues",
                queue,
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "--hostname",
                # Named after the queue (its prefix too), not the rack alone: Celery's node names are
                # exclusive on the broker, and two installations on one broker may both have a rack r1.
                f"{queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                options["loglevel"],
            ]
        )
