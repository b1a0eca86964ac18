"""How fresh a signed index is: Valid-Until, a Date from the future, and replays of older indexes.

A signature says who made an index, not when it may be used; apt adds three checks, and so does
this module (apt's acquire-item.cc; apt.conf(5) Acquire::Check-Valid-Until, Check-Date,
Max-FutureTime):

1. Valid-Until has passed: the Release is stale (a mirror that stopped syncing, or an attacker
   freezing nodes on old files). Refused (`StaleIndex`), unless the source allows expired indexes
   (a frozen private mirror); then it is accepted with a warning each time.
2. Date is in the future by more than `MAX_FUTURE_SECONDS`: refused as "not valid yet", as apt
   does (apt allows 10 s; here one hour, as an import server's clock may drift). Accepting it
   would be worse than a skewed clock: its Date, once recorded, would make every genuine later
   index look older, and be refused, until that date.
3. Replay: the Date of the newest index trusted is remembered per signed index (`FreshnessStore`,
   keyed by the suite's URL, `<dists>/<release>/`, for InRelease and Release alike, so dropping
   InRelease to serve an older Release does not escape it); an older one is refused, naming both
   dates. A Date is recorded only once the index it vouches for has been verified.

SHA256SUMS signed by a detached SHA256SUMS.gpg (Ubuntu) carries no Date. What protects it here is
the signature's own creation time, which is inside the signed data: it is remembered and checked
the same way (keyed by the SHA256SUMS URL). That catches a mirror serving an older signed pair; it
cannot catch the archive's key holder re-signing old content, nor say when such an index goes
stale (there is no Valid-Until), and the file's mtime or Last-Modified is unsigned, so it is not used.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pxeimport.lib import describe_os_error, write_atomic
from pxeimport.trust.signatures import SignatureError

log = logging.getLogger(__name__)

FILE_NAME = "freshness.json"
MAX_FUTURE_SECONDS = 3600
# One lock for every store in this process: sources' verifiers share the file. Other processes
# are kept out by the TFTP root's lock, which a run holds.
_LOCK = threading.Lock()


class StaleIndex(SignatureError):
    """A validly signed index that must not be used now: expired, not valid yet, or older than one trusted."""


@dataclass(frozen=True)
class Freshness:
    """What an index says about its time. `date`: when it was made (Release's Date, or the
    signature's creation time); `valid_until`: Release's Valid-Until, None when absent."""

    date: datetime | None
    valid_until: datetime | None = None


def check_dates(name: str, freshness: Freshness, now: datetime, *, allow_expired: bool = False) -> str:
    """StaleIndex when `name` is past its Valid-Until (unless `allow_expired`) or dated in the future.

    Returns a warning to report when an expired index is accepted because `allow_expired`; "" otherwise.
    """
    if freshness.date is not None and freshness.date > now + timedelta(seconds=MAX_FUTURE_SECONDS):
        raise StaleIndex(
            name,
            f"not valid yet: its Date {_show(freshness.date)} is ahead of this machine's clock "
            f"({_show(now)}); check the clock, or the mirror",
        )
    if freshness.valid_until is None or freshness.valid_until >= now:
        return ""
    expired = f"expired: its Valid-Until {_show(freshness.valid_until)} has passed (now {_show(now)})"
    if allow_expired:
        return f"{name}: {expired}; used anyway, as its boot source allows expired indexes"
    raise StaleIndex(
        name,
        f"{expired}: the mirror has stopped updating, or is replaying old files; for a frozen "
        "private mirror, allow expired indexes in its boot source",
    )


class FreshnessStore:
    """The Date of the newest index trusted, per key (a suite's URL, or a detached-signed index's URL).

    A small JSON file, {"<key>": "<ISO 8601 date, UTC>"}, written atomically; never in the database.
    With `writable` False (a dry run) it is read but never written.
    """

    def __init__(self, path: Path, *, writable: bool = True) -> None:
        self.path = path
        self.writable = writable

    def newest(self, key: str) -> datetime | None:
        """The newest Date recorded for `key`; None when none is (or the file cannot be read)."""
        with _LOCK:
            value = self._read().get(key)
        return _parse(value) if value else None

    def check(self, key: str, name: str, date: datetime | None) -> None:
        """StaleIndex when `date` is older than the newest recorded for `key` (`name`: the index's URL)."""
        newest = self.newest(key)
        if date is not None and newest is not None and date < newest:
            raise StaleIndex(
                name,
                f"older than the index already trusted: its Date is {_show(date)}, but {_show(newest)} was "
                "seen on an earlier run; a mirror serving old files, or a replay",
            )

    def record(self, key: str, date: datetime | None) -> None:
        """Remember `date` for `key` when it is newer; a write failure is logged, never raised."""
        if date is None or not self.writable:
            return
        with _LOCK:
            entries = self._read()
            known = _parse(entries.get(key, ""))
            if known is not None and known >= date:
                return
            entries[key] = date.astimezone(UTC).isoformat()
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps(entries, indent=1, sort_keys=True).encode() + b"\n", 0o600)
            except OSError as exc:
                log.warning("could not record the Date of %s in %s: %s", key, self.path, exc)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Refusing every run would be worse; the next trusted index writes it anew.
            said = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            log.warning("%s cannot be read (%s); the newest trusted Dates are forgotten", self.path, said)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and _parse(v)}


def from_timestamp(seconds: int) -> datetime | None:
    """A signature's creation time (Unix seconds) as a UTC datetime; None for 0 (unknown)."""
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _parse(value: str) -> datetime | None:
    """A date this store wrote (ISO 8601 with its zone); None for anything else."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _show(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")
