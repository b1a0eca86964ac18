"""The figures of a run, by case, server and contender, and how numbers are written in the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure import Figures
from bench.nginx import LogEntry, status_counts

MiB = 1 << 20

# Contenders besides the importers (each importer is a contender named by its label).
OLD = "2012 script"
CURL_SEQ = "curl, one after another"
CURL_PAR = "curl, all at once"
# The importer's default connection budget (PXEIMPORT_JOBS: connections per host), for curl and aria2c alike.
BUDGET = 4
CURL_BUDGET = f"curl, xargs -P {BUDGET}"
ARIA2 = f"aria2c -x{BUDGET} -s{BUDGET}"
CURL_COND = "curl --time-cond, one after another"
CURL_SYNC = "curl, then sync FILE"
HASH = "hashlib SHA-256 of the file alone"
PXE = "pxeimport"
# Servers.
LIMITED = "rate-limited"
OPEN = "unthrottled"
NO_SERVER = "-"
# Cases.
FULL = "full"
NOOP = "no-op"
SMALL = "small initrd"
BIG = "big initrd"
SEGMENTED = "big file, rate-limited"
ISO = "ISO-sized file"


def startup(label: str) -> str:
    """The contender that only starts `label`'s command."""
    return f"{label} start-up only"


@dataclass
class Results:
    """Every case's figures, by (case, server, contender), and what they were measured on."""

    image_bytes: int
    image_files: int
    rate: str
    small_bytes: int
    big_bytes: int
    limited_bytes: int = 0
    iso_bytes: int = 0
    importers: tuple[str, ...] = (PXE,)
    figures: dict[tuple[str, str, str], Figures] = field(default_factory=dict)

    def add(self, case: str, server: str, contender: str) -> Figures:
        return self.figures.setdefault((case, server, contender), Figures())

    def get(self, case: str, server: str, contender: str) -> Figures | None:
        found = self.figures.get((case, server, contender))
        return found if found and found.samples else None

    def seconds(self, case: str, server: str, contender: str) -> float | None:
        found = self.get(case, server, contender)
        return found.seconds if found else None


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def times(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def mib(size: int) -> str:
    return f"{size / MiB:.1f}" if size >= MiB else f"{size / MiB:.3f}"


def statuses(entries: list[LogEntry]) -> str:
    """E.g. `14 (12x200, 2x304)`."""
    counts = status_counts(entries)
    return f"{len(entries)} (" + ", ".join(f"{n}x{status}" for status, n in sorted(counts.items())) + ")"
