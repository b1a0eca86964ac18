"""Run import_pxe_files in this process, as a region or a rack runs it, and give back what it said; a region's
settings and keyring below a test's directory."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.commands import CommandResult


def run(*args: str) -> CommandResult:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_pxe_files", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return CommandResult(code, out.getvalue(), err.getvalue())


def region_settings(tmp: Path, settings: Any) -> Path:
    """Make `tmp` hold a region's publish root (`publish/`) and a rack's HTTP root (`rack-http/`), set the region's
    GnuPG home and publish URL (no broker, no HTTP backoff), and export its keyring; the keyring's path."""
    (tmp / "publish").mkdir()
    (tmp / "rack-http").mkdir()
    settings.PXEIMPORT_REGION_GNUPGHOME = tmp / "region-gnupg"
    settings.PXEIMPORT_PUBLISH_URL = "http://127.0.0.1/"
    settings.PXEIMPORT_HTTP_BACKOFF = 0
    settings.CELERY_BROKER_URL = ""
    keyring = tmp / "region.gpg"
    call_command("export_region_keyring", str(keyring), stdout=StringIO())
    return keyring
