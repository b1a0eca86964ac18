"""Run manage.py in a subprocess against the test database the test itself uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.database import database_url

PROJECT = Path(__file__).resolve().parents[2]


def manage(*args: str, env_extra: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "settings", **(env_extra or {})}
    return subprocess.Popen([sys.executable, str(PROJECT / "manage.py"), *args], cwd=PROJECT, env=env, **popen)
