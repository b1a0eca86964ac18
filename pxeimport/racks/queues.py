"""One region, one set of queues: the broker names of a region's queues, unique to that region.

Two regions may share one RabbitMQ vhost. Their queues must not meet: a rack consuming another
region's wake-ups, or a region storing another region's racks, is a rack that follows nobody. So the
default names carry the region's key id (the last 16 hex digits of its signing key's fingerprint,
RFC 4880 section 12.2): `pxeimport.<id>.region` for the region's own queue (reports, the safety net) and
`pxeimport.<id>.rack.<name>` for each rack's. The region reads its id from its own key
(PXEIMPORT_REGION_GNUPGHOME); a rack from the keyring it verifies the region with (--keyring), so both
sides agree without configuration, whatever URL each rack reaches the region by.
PXEIMPORT_REGION_QUEUE and PXEIMPORT_RACK_QUEUE_PREFIX, when set, replace the defaults.

A rack's queue keeps at most one waiting wake-up (RabbitMQ's x-max-length 1 with x-overflow drop-head:
a newer one replaces it). A wake-up means "converge to the latest index", so one waiting is as good
as a hundred, and no clock decides which to drop: a rack whose clock is wrong, or that was down for a
week, gets exactly one. The one being worked on is unacknowledged and not counted.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from pxeimport.publication import RegionKey, keyring_fingerprint

# x-arguments of a rack's queue (RabbitMQ's "Queue Length Limit"; every declarer must give the same).
RACK_QUEUE_ARGUMENTS: dict[str, Any] = {"x-max-length": 1, "x-overflow": "drop-head"}

_lock = threading.Lock()
_ids: dict[str, str] = {}
_follows: Path | None = None


def follow(keyring: Path) -> None:
    """This process is a rack following the region whose key is in `keyring` (rack_worker calls this)."""
    global _follows
    _follows = keyring


def key_id(fingerprint: str) -> str:
    """The key id of an OpenPGP v4 fingerprint: its last 16 hex digits, lower case."""
    return fingerprint[-16:].lower()


def region_id() -> str:
    """The key id of the region this process is (its own key) or follows (a rack: its --keyring's key).

    RegionKeyError when gpg is missing or the key cannot be read; computed once per process.
    """
    where = str(_follows) if _follows is not None else f"home:{settings.PXEIMPORT_REGION_GNUPGHOME}"
    with _lock:
        if where not in _ids:
            if _follows is not None:
                fingerprint = keyring_fingerprint(_follows)
            else:
                fingerprint = RegionKey(settings.PXEIMPORT_REGION_GNUPGHOME).fingerprint()
            _ids[where] = key_id(fingerprint)
        return _ids[where]


def region_queue() -> str:
    """The region's queue: PXEIMPORT_REGION_QUEUE, else `pxeimport.<key id>.region`."""
    return str(settings.PXEIMPORT_REGION_QUEUE) or f"pxeimport.{region_id()}.region"


def rack_queue(name: str) -> str:
    """Rack `name`'s queue: PXEIMPORT_RACK_QUEUE_PREFIX + name, else `pxeimport.<key id>.rack.<name>`."""
    prefix = str(settings.PXEIMPORT_RACK_QUEUE_PREFIX) or f"pxeimport.{region_id()}.rack."
    return prefix + name
