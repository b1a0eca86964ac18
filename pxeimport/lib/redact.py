"""Passwords out of URLs, for pages and logs: http://user:secret@proxy:3128 shows as http://user:***@proxy:3128."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@ anywhere in a text (an error message, a log line). The password ends at the
# last "@" before the host; it may hold ":" but no "/" or whitespace.
_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^/\s]*)@")


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***; anything else is returned as given."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def redact_text(text: str) -> str:
    """Every user:password@ in URLs within free text, with the password replaced by ***."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def restore_password(submitted: str, stored: str) -> str:
    """What the operator meant by a URL whose password still reads ***: the stored password, kept.

    Lets a form show a redacted URL and save it back unchanged, or with another host or port, without
    ever sending the password to the browser. Any other submitted password replaces the stored one.
    """
    new, old = urlsplit(submitted), urlsplit(stored)
    if new.password != MASK or old.password is None or new.username != old.username:
        return submitted
    host = new.netloc.rpartition("@")[2]
    return urlunsplit(new._replace(netloc=f"{old.netloc.rpartition('@')[0]}@{host}"))
