"""Write the region's public keyring, for racks' --keyring: the key is made on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport.publication import RegionKeyError
from pxeimport.runs import publishing


class Command(BaseCommand):
    help = (
        "Write the region's public OpenPGP keyring to FILE (binary, as gpgv --keyring takes it); copy it to "
        "each rack. The signing key is made in PXEIMPORT_REGION_GNUPGHOME when there is none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, metavar="FILE", help="Where to write the public keyring.")

    def handle(self, *args: Any, **options: Any) -> None:
        key = publishing.region_key()
        try:
            fingerprint = key.export_keyring(options["file"])
        except (RegionKeyError, OSError) as exc:
            raise CommandError(f"cannot write the region's keyring to {options['file']}: {exc}") from exc
        if int(options["verbosity"]) >= 1:
            self.stdout.write(f"Wrote the region's public key {fingerprint} to {options['file']}")
