"""The DATABASE_URL of the database Django is connected to now, for a subprocess to use the same one (a test
database inside a transaction=True test; the soak's own)."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def database_url() -> str:
    """DATABASE_URL naming the database of Django's default connection (SQLite or PostgreSQL)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
        host = s["HOST"] or "localhost"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{s['NAME']}"
    raise NotImplementedError(connection.vendor)
