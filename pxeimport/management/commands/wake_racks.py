"""Ask every known rack to converge to the region's latest index now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pxeimport import racks
from pxeimport.lib import EXIT_FAILED, EXIT_USAGE


class Command(BaseCommand):
    help = "Send every rack the region knows (they announce themselves) a converge task on its queue."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_BROKER_URL:
            raise CommandError(
                "CELERY_BROKER_URL is not set: racks are asked through the broker", returncode=EXIT_USAGE
            )
        try:
            asked = racks.ask_racks_to_converge("wake_racks")
        except racks.BrokerUnavailable as exc:
            raise CommandError(f"{exc}; no rack was asked", returncode=EXIT_FAILED) from exc
        if int(options["verbosity"]) >= 1:
            self.stdout.write(f"Asked {asked} rack(s) to converge.")
