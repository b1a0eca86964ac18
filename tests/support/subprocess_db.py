"""Run manage.py in a subprocess against the test database the test itself uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

PROJECT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """DATABASE_URL naming the test database (call inside a transaction=True test)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
        host = s["HOST"] or "localhost"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{s['NAME']}"
    raise NotImplementedError(connection.vendor)


def manage(*args: str, env_extra: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "settings", **(env_extra or {})}
    return subprocess.Popen([sys.executable, str(PROJECT / "manage.py"), *args], cwd=PROJECT, env=env, **popen)
