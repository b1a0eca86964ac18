"""The figures as markdown tables with ratios, the issue's targets met or not, and BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.archive import size_name
from bench.measure import Figures
from bench.nginx import LogEntry, repeated_uris, status_counts

MiB = 1 << 20
# What an importer reads before any netboot file: the signed release file and the installer indexes.
INDEX_NAMES = frozenset({"InRelease", "Release", "Release.gpg", "SHA256SUMS", "SHA256SUMS.gpg"})

# Contenders.
OLD = "2012 script"
CURL_SEQ = "curl, one after another"
CURL_PAR = "curl, all at once"
CURL_COND = "curl --time-cond, one after another"
CURL_SYNC = "curl, then sync FILE"
HASH = "hashlib SHA-256 of the file alone"
PXE = "pxeimport"
STARTUP = "pxeimport start-up only"
# Cases.
LIMITED = "rate-limited"
OPEN = "unthrottled"
NO_SERVER = "-"
FULL = "full"
NOOP = "no-op"
SMALL = "small initrd"
BIG = "big initrd"


@dataclass
class Results:
    """Every case's figures, by (case, server, contender), and what they were measured on."""

    image_bytes: int
    image_files: int
    rate: str
    small_bytes: int
    big_bytes: int
    figures: dict[tuple[str, str, str], Figures] = field(default_factory=dict)

    def add(self, case: str, server: str, contender: str) -> Figures:
        return self.figures.setdefault((case, server, contender), Figures())

    def get(self, case: str, server: str, contender: str) -> Figures | None:
        found = self.figures.get((case, server, contender))
        return found if found and found.samples else None


@dataclass(frozen=True)
class Verdict:
    """One of the issue's targets: what it asks, what was measured, and whether it is met (None: not measured)."""

    target: str
    figure: str
    met: bool | None


# Formatting ----------------------------------------------------------------------------------


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


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table padded for the console; columns after the first two are right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(headers), "|" + "|".join(rule) + "|", *(line(r) for r in rows)])


# Tables --------------------------------------------------------------------------------------


def seconds_of(figures: Figures | None) -> float | None:
    return figures.seconds if figures else None


def full_table(results: Results) -> str:
    headers = [
        "server",
        "contender",
        "wall s",
        "x 2012 script",
        "x curl at once",
        "MiB pulled",
        "requests",
        "peak RSS MiB",
    ]
    rows = []
    for server in (LIMITED, OPEN):
        old = seconds_of(results.get(FULL, server, OLD))
        parallel = seconds_of(results.get(FULL, server, CURL_PAR))
        for contender in (OLD, CURL_SEQ, CURL_PAR, PXE):
            f = results.get(FULL, server, contender)
            if f is None:
                continue
            cells = [f"{f.seconds:.2f}", times(ratio(f.seconds, old)), times(ratio(f.seconds, parallel))]
            rows.append([server, contender, *cells, mib(f.bytes_sent), statuses(f.requests), mib(f.max_rss)])
    return markdown_table(headers, rows)


def noop_table(results: Results) -> str:
    headers = ["server", "contender", "wall s", "x 2012 script", "bytes pulled", "% of image bytes", "requests"]
    rows = []
    for server in (LIMITED, OPEN):
        old = seconds_of(results.get(NOOP, server, OLD))
        for contender in (OLD, PXE, CURL_COND):
            f = results.get(NOOP, server, contender)
            if f is None:
                continue
            share = f"{100 * f.bytes_sent / results.image_bytes:.3f} %"
            cells = [f"{f.seconds:.2f}", times(ratio(f.seconds, old)), f"{f.bytes_sent:,}", share, statuses(f.requests)]
            rows.append([server, contender, *cells])
    startup = results.get(NOOP, NO_SERVER, STARTUP)
    if startup:
        rows.append([NO_SERVER, STARTUP, f"{startup.seconds:.2f}", "-", "0", "0 %", "0"])
    return markdown_table(headers, rows)


def big_table(results: Results) -> str:
    headers = ["initrd", "contender", "wall s", "x curl", "MiB pulled", "peak RSS MiB", "RSS x small"]
    small = results.get(SMALL, OPEN, PXE)
    curl = results.get(BIG, OPEN, CURL_SEQ)
    rows = []
    cases = (
        (SMALL, PXE, results.small_bytes),
        (BIG, CURL_SEQ, results.big_bytes),
        (BIG, CURL_SYNC, results.big_bytes),
        (BIG, HASH, results.big_bytes),
        (BIG, PXE, results.big_bytes),
    )
    for case, contender, size in cases:
        f = results.get(case, OPEN, contender)
        if f is None:
            continue
        vs_curl = times(ratio(f.seconds, seconds_of(curl))) if case == BIG else "-"
        vs_small = times(ratio(f.max_rss, small.max_rss if small else None)) if contender == PXE else "-"
        label = "curl" if contender == CURL_SEQ else contender
        cells = [f"{f.seconds:.2f}", vs_curl, mib(f.bytes_sent), mib(f.max_rss), vs_small]
        rows.append([size_name(size), label, *cells])
    return markdown_table(headers, rows)


# Targets -------------------------------------------------------------------------------------


def verdict(target: str, value: float | None, limit: float, show: Callable[[float], str]) -> Verdict:
    if value is None:
        return Verdict(target, "not measured", None)
    return Verdict(target, show(value), value <= limit)


def targets(results: Results) -> list[Verdict]:
    """The issue's targets against the figures."""
    noop = results.get(NOOP, LIMITED, PXE) or results.get(NOOP, OPEN, PXE)
    share = noop.bytes_sent / results.image_bytes if noop else None
    old_noop = seconds_of(results.get(NOOP, LIMITED, OLD))
    full = seconds_of(results.get(FULL, LIMITED, PXE))
    big = seconds_of(results.get(BIG, OPEN, PXE))
    small_rss = results.get(SMALL, OPEN, PXE)
    big_rss = results.get(BIG, OPEN, PXE)
    rss_ratio = ratio(big_rss.max_rss, small_rss.max_rss) if big_rss and small_rss else None
    big_size = size_name(results.big_bytes)
    verdicts = [
        verdict("no-op bytes ≤ 1 % of image bytes", share, 0.01, lambda v: f"{100 * v:.3f} %"),
        verdict(
            "rate-limited no-op wall ≤ 0.02x the 2012 script's",
            ratio(seconds_of(results.get(NOOP, LIMITED, PXE)), old_noop),
            0.02,
            lambda v: f"{v:.3f}x",
        ),
        verdict(
            "rate-limited full import ≤ 1.25x curl all at once",
            ratio(full, seconds_of(results.get(FULL, LIMITED, CURL_PAR))),
            1.25,
            lambda v: f"{v:.2f}x",
        ),
        verdict(
            f"unthrottled {big_size} import ≤ 1.3x curl",
            ratio(big, seconds_of(results.get(BIG, OPEN, CURL_SEQ))),
            1.3,
            lambda v: f"{v:.2f}x",
        ),
        verdict(f"peak RSS with {big_size} ≤ 1.2x with {size_name(results.small_bytes)}", rss_ratio, 1.2, times),
        verdict(
            f"peak RSS with {big_size} < 150 MiB",
            big_rss.max_rss / MiB if big_rss else None,
            150 - 1e-9,
            lambda v: f"{v:.1f} MiB",
        ),
    ]
    return verdicts


def targets_table(verdicts: list[Verdict]) -> str:
    marks = {True: "met", False: "**not met**", None: "-"}
    return markdown_table(
        ["target (issue 6)", "measured", "met?"], [[v.target, v.figure, marks[v.met]] for v in verdicts]
    )


# Reading the figures -------------------------------------------------------------------------


def _full_reading(results: Results) -> list[str]:
    pxe = results.get(FULL, LIMITED, PXE)
    seq = results.get(FULL, LIMITED, CURL_SEQ)
    par = results.get(FULL, LIMITED, CURL_PAR)
    if not (pxe and seq and par):
        return []
    vs_seq, vs_par = pxe.seconds / seq.seconds, pxe.seconds / par.seconds
    line = (
        f"Full import behind `limit_rate {results.rate}`: pxeimport takes {vs_par:.2f}x curl all at once and "
        f"{vs_seq:.2f}x curl one after another."
    )
    if 0.8 <= vs_seq <= 1.25:
        line += (
            " That is the shape of sequential downloads: the wall time is the sum of every file's time, where "
            "parallel curl's is the biggest file's. A per-connection limit (a busy mirror) makes this the main cost."
        )
    return [line]


def netboot_name(uri: str) -> str | None:
    """A netboot file's name below its arch's directory (`boot-screens/ldlinux.c32`); None for an index."""
    if uri.rsplit("/", 1)[-1] in INDEX_NAMES:
        return None
    return uri.rsplit("/netboot/", 1)[-1].split("/", 2)[-1]


def _files_reading(results: Results) -> list[str]:
    pxe = results.get(FULL, OPEN, PXE) or results.get(FULL, LIMITED, PXE)
    curl = results.get(FULL, OPEN, CURL_SEQ) or results.get(FULL, LIMITED, CURL_SEQ)
    if not (pxe and curl):
        return []
    files = [e for e in pxe.requests if netboot_name(e.uri)]
    indexes = len(pxe.requests) - len(files)
    line = f"Full import: pxeimport makes {indexes} index requests and {len(files)} for netboot files"
    theirs = {netboot_name(e.uri) for e in curl.requests}
    extra = sorted({name for e in files if (name := netboot_name(e.uri)) and name not in theirs})
    if extra:
        extra_bytes = sum(e.bytes_sent for e in files if netboot_name(e.uri) in extra)
        line += (
            f"; besides the files curl fetches it also pulls {', '.join(f'`{n}`' for n in extra)} "
            f"({mib(extra_bytes)} MiB)"
        )
    return [line + "."]


def _noop_reading(results: Results) -> list[str]:
    pxe = results.get(NOOP, LIMITED, PXE) or results.get(NOOP, OPEN, PXE)
    old = results.get(NOOP, LIMITED, OLD) or results.get(NOOP, OPEN, OLD)
    lines = []
    if pxe:
        counts = status_counts(pxe.requests)
        line = f"No-op re-run: pxeimport makes {len(pxe.requests)} requests for {pxe.bytes_sent:,} bytes"
        if counts.get(304, 0) == 0 and pxe.requests:
            line += (
                ", every one answered 200 with the whole body: no conditional requests (If-None-Match, "
                "If-Modified-Since), so each signed index is downloaded again; the bytes stay small only because "
                "the indexes are"
            )
        startup = results.get(NOOP, NO_SERVER, STARTUP)
        if startup:
            line += f". Start-up alone (interpreter and Django) is {startup.seconds:.2f} s of its {pxe.seconds:.2f} s"
        lines.append(line + ".")
    if old:
        share = old.bytes_sent / results.image_bytes
        lines.append(
            f"The 2012 script's no-op pulls {100 * share:.0f} % of the image bytes again: it never sees its files "
            "as unchanged, so its no-op costs a full import."
        )
    return lines


def _repeat_reading(results: Results) -> list[str]:
    pxe = results.get(FULL, LIMITED, PXE) or results.get(FULL, OPEN, PXE)
    if not pxe:
        return []
    repeated = repeated_uris(pxe.requests)
    if not repeated:
        return ["Full import: pxeimport asks for no URL twice."]
    names = ", ".join(f"`{uri.rsplit('/', 1)[-1]}`" for uri in sorted(repeated)[:4])
    extra = sum(n - 1 for n in repeated.values())
    return [
        f"Full import: pxeimport asks for {len(repeated)} URLs more than once ({extra} extra requests), e.g. {names}."
    ]


def _overhead_reading(results: Results) -> list[str]:
    lines = []
    pxe, seq = results.get(FULL, OPEN, PXE), results.get(FULL, OPEN, CURL_SEQ)
    if pxe and seq:
        startup = results.get(NOOP, NO_SERVER, STARTUP)
        alone = f" (start-up alone: {startup.seconds:.2f} s of its {pxe.seconds:.2f} s)" if startup else ""
        lines.append(
            f"Unthrottled full import: pxeimport takes {pxe.seconds / seq.seconds:.2f}x curl one after another"
            f"{alone}; beyond moving bytes it starts Python and Django, checks signatures with gpgv, hashes every "
            "byte, fsyncs every file and records each install in the database."
        )
    big, curl = results.get(BIG, OPEN, PXE), results.get(BIG, OPEN, CURL_SEQ)
    synced = results.get(BIG, OPEN, CURL_SYNC)
    if big and curl:
        line = (
            f"{size_name(results.big_bytes)} initrd: pxeimport takes {big.seconds / curl.seconds:.2f}x curl, "
            "which neither hashes nor fsyncs"
        )
        if synced:
            line += f"; curl followed by an fsync of the file takes {synced.seconds / curl.seconds:.2f}x curl"
        hashed = results.get(BIG, OPEN, HASH)
        if hashed:
            line += f", and hashing the file alone (SHA-256, hashlib) {hashed.seconds / curl.seconds:.2f}x curl"
        lines.append(f"{line}. pxeimport's peak RSS is {big.max_rss / MiB:.1f} MiB.")
    return lines


def reading(results: Results) -> list[str]:
    """What the figures say, one sentence or two per case, derived from the figures themselves."""
    return [
        *_full_reading(results),
        *_files_reading(results),
        *_repeat_reading(results),
        *_noop_reading(results),
        *_overhead_reading(results),
    ]


# The whole report ----------------------------------------------------------------------------


def tables(results: Results) -> str:
    """Every table, with a heading each: what `python -m bench.run` prints and BENCHMARKS.md holds."""
    parts = [
        f"### Full import, 2 arches x 3 releases ({results.image_files} files, {mib(results.image_bytes)} MiB)",
        full_table(results),
        "### No-op re-run (nothing changed upstream)",
        noop_table(results),
        f"### {size_name(results.big_bytes)} initrd (unthrottled) and peak RSS",
        big_table(results),
        "### Targets",
        targets_table(targets(results)),
    ]
    return "\n\n".join(parts)


def machine() -> str:
    """nproc, memory, CPU, kernel, Python; no host names."""
    memory = next(
        (
            int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory / (1 << 30):.1f} GiB memory, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {tool_version(['nginx', '-v'])}, {tool_version(['curl', '--version'])}"
    )


def tool_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return f"{command[0]} missing"
    text = (done.stdout or done.stderr).strip().splitlines()
    first = text[0] if text else command[0]
    return first.replace("nginx version: ", "").split(" (")[0]


@dataclass(frozen=True)
class Context:
    """What BENCHMARKS.md says about how the figures were made."""

    command: str
    date: str
    importer: str
    archive: str
    repeat: int
    load: tuple[float, float]


METHOD = """\
- **Bytes pulled** are read from nginx's access log: the sum of `$bytes_sent` (headers and body) of the
  requests logged while the run was going. **Requests** counts them by status.
- **Peak RSS** is `ru_maxrss` from `wait4(2)` on the process started (for a run of several processes, the
  largest): the peak of it and of every descendant it waited for. For pxeimport that is the `manage.py`
  process; gpgv is smaller.
- **curl** fetches the files an import needs: per arch `pxelinux.0` and `boot-screens/ldlinux.c32` of the
  current release, and `linux` and `initrd.gz` of each release; one `curl` process per file, one after
  another or all at once, with `--remote-time` so that `--time-cond` (If-Modified-Since) matches nginx's
  exact Last-Modified check. No index is fetched.
- **The 2012 script** is run from `../shared/seed/` (never copied) with `DOWNLOAD='curl -O --silent --fail'`;
  it fetches `pxelinux.0` but not `ldlinux.c32`.
- **pxeimport** is `manage.py import_pxe_files --archive … --tftproot … --keyring … --arch … --release …
  --current-release bookworm -v0` on a throwaway SQLite database (migrated first), each full import into
  an empty TFTP root, each no-op into the root the full import filled.
- Before each run the harness calls `sync(2)`, so that no run pays for an earlier run's writeback.
- Ratios are taken within this one run, side by side: the machine is shared, so absolute times vary from
  run to run, and only the ratios are meant to be compared."""


def document(results: Results, context: Context) -> str:
    """BENCHMARKS.md: how the figures were made, the figures, and what they say."""
    readings = "\n".join(f"- {line}" for line in reading(results))
    return f"""# Benchmarks

<!-- Written by `python -m bench.run`; run it again rather than editing the figures by hand. -->

Issue 6's harness (`bench/`): pxeimport against the 2012 `maas-import-pxe-files` script and plain curl,
all pulling from our own nginx on 127.0.0.1, once unthrottled and once with `limit_rate {results.rate};`.

- Command: `{context.command}`
- Date: {context.date}
- Machine: {machine()}; 1-minute load average {context.load[0]:.1f} when the runs began and
  {context.load[1]:.1f} when they ended (the machine is shared)
- Importer: {context.importer}
- Archive: {context.archive}
- Repeats: unthrottled cases and no-op re-runs ran {context.repeat}x interleaved (median wall time, largest
  peak RSS); the rate-limited full imports and the 2012 script's rate-limited no-op ran once.

## How

{METHOD}

## Figures

{tables(results)}

## Reading

{readings}
"""
