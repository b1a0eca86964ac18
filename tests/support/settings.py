"""Start the project's settings in a fresh Python with a given environment, as the tests of settings do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
OURS = ("PXEIMPORT_", "DATABASE_URL", "DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")

SHOW = (
    "import json, settings; "
    "print(json.dumps({'grace': settings.PXEIMPORT_GRACE_SECONDS, 'root': str(settings.PXEIMPORT_TFTPROOT), "
    "'timeout': settings.PXEIMPORT_HTTP_TIMEOUT, 'retries': settings.PXEIMPORT_HTTP_RETRIES, "
    "'max': settings.PXEIMPORT_MAX_FILE_BYTES, 'debug': settings.DEBUG, "
    "'engine': settings.DATABASES['default']['ENGINE']}))"
)


def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    # A fixed key, so no run writes var/secret_key.
    clean.update({"SECRET_KEY": "test-only", "PYTHONDONTWRITEBYTECODE": "1", **env})
    return subprocess.run([sys.executable, *argv], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60)


def import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    return run("-c", SHOW, **env)
