"""Converge a rack once, without a broker: what rack_worker does per message, for a timer or cron."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport import racks
from pxeimport.lib import EXIT_FAILED, EXIT_LOCKED, EXIT_USAGE


class Command(BaseCommand):
    help = (
        "Bring this rack's TFTP root to the region's latest signed index once (import_pxe_files --layout region "
        "with the arches and releases the index names), then exit: for a rack without RabbitMQ, run it from "
        "contrib/systemd/pxeimport-rack-sync.timer. Exit status: 0 in sync, 1 the index or an item failed "
        "(what was served stays), 2 bad usage, 75 another import holds the TFTP root's lock (nothing done)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tftproot", type=Path, required=True, metavar="DIR", help="This rack's TFTP root.")
        parser.add_argument("--region", required=True, metavar="URL", help="The region's PXEIMPORT_PUBLISH_URL.")
        parser.add_argument(
            "--keyring", type=Path, required=True, metavar="FILE", help="The region's keyring (export_region_keyring)."
        )
        parser.add_argument("--name", default=None, help="This rack's name in what it says (default: the host name).")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"] or socket.gethostname().split(".")[0].lower()
        try:
            config = racks.rack_config(name, options["tftproot"], options["region"], options["keyring"])
        except racks.RackOptionError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        report = racks.converge(config)
        for item in report["items"]:
            if item.get("error"):
                self.stderr.write(f"{item.get('arch')} {item.get('release') or 'loader'}: {item['error']}")
        # What the Racks page would show for a rack with a broker, said here.
        offset = report.get("clock_offset")
        if isinstance(offset, float) and abs(offset) > settings.PXEIMPORT_RACK_CLOCK_SKEW_SECONDS:
            way = "ahead of" if offset > 0 else "behind"
            self.stderr.write(f"WARNING: rack {name}: its clock is {abs(offset):.0f} s {way} the region's web server")
        if report.get("beyond"):
            self.stderr.write(f"rack {name}: serves beyond the region's index: {', '.join(report['beyond'])}")
        if report.get("busy"):  # another import holds the root's lock: the timer's next tick tries again
            raise CommandError(f"rack {name}: {report['error']}; nothing done, try again later", returncode=EXIT_LOCKED)
        if report.get("error"):
            raise CommandError(f"rack {name}: {report['error']}; what was served stays", returncode=EXIT_FAILED)
        if int(options["verbosity"]) >= 1:
            self.stdout.write(f"rack {name}: in sync with {options['region']} ({report['bytes']} bytes pulled)")
