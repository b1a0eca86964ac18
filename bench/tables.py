"""The figures as markdown tables with ratios against the baselines, and the issue's targets met or not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.archive import size_name
from bench.nginx import max_in_flight
from bench.results import (
    ARIA2,
    BIG,
    CURL_BUDGET,
    CURL_COND,
    CURL_PAR,
    CURL_SEQ,
    CURL_SYNC,
    FULL,
    HASH,
    ISO,
    LIMITED,
    NO_SERVER,
    NOOP,
    OLD,
    OPEN,
    SEGMENTED,
    SMALL,
    MiB,
    Results,
    mib,
    ratio,
    startup,
    statuses,
    times,
)


@dataclass(frozen=True)
class Verdict:
    """One of the issue's targets: what it asks, what was measured, and whether it is met (None: not measured)."""

    target: str
    figure: str
    met: bool | None


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table padded for the console; columns after the first two are right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(headers), "|" + "|".join(rule) + "|", *(line(r) for r in rows)])


def full_table(results: Results) -> str:
    headers = ["server", "contender", "wall s", "x 2012 script", "x curl at once", "MiB pulled", "requests"]
    headers += ["most at once", "peak RSS MiB"]
    rows = []
    for server in (LIMITED, OPEN):
        old, parallel = results.seconds(FULL, server, OLD), results.seconds(FULL, server, CURL_PAR)
        for contender in (OLD, CURL_SEQ, CURL_PAR, CURL_BUDGET, *results.importers):
            f = results.get(FULL, server, contender)
            if f is None:
                continue
            cells = [f"{f.seconds:.2f}", times(ratio(f.seconds, old)), times(ratio(f.seconds, parallel))]
            cells += [mib(f.bytes_sent), statuses(f.requests), str(max_in_flight(f.requests)), mib(f.max_rss)]
            rows.append([server, contender, *cells])
    return markdown_table(headers, rows)


def noop_table(results: Results) -> str:
    headers = ["server", "contender", "wall s", "x 2012 script", "bytes pulled", "% of image bytes", "requests"]
    rows = []
    for server in (LIMITED, OPEN):
        old = results.seconds(NOOP, server, OLD)
        for contender in (OLD, *results.importers, CURL_COND):
            f = results.get(NOOP, server, contender)
            if f is None:
                continue
            share = f"{100 * f.bytes_sent / results.image_bytes:.3f} %"
            cells = [f"{f.seconds:.2f}", times(ratio(f.seconds, old)), f"{f.bytes_sent:,}", share, statuses(f.requests)]
            rows.append([server, contender, *cells])
    for label in results.importers:
        alone = results.get(NOOP, NO_SERVER, startup(label))
        if alone:
            rows.append([NO_SERVER, startup(label), f"{alone.seconds:.2f}", "-", "0", "0 %", "0"])
    return markdown_table(headers, rows)


def big_table(results: Results) -> str:
    headers = ["initrd", "contender", "wall s", "x curl", "MiB pulled", "peak RSS MiB", "RSS x small"]
    curl = results.seconds(BIG, OPEN, CURL_SEQ)
    cases = [(SMALL, label) for label in results.importers]
    cases += [(BIG, contender) for contender in (CURL_SEQ, CURL_SYNC, HASH, *results.importers)]
    cases += [(ISO, label) for label in results.importers]
    sizes = {SMALL: results.small_bytes, BIG: results.big_bytes, ISO: results.iso_bytes}
    rows = []
    for case, contender in cases:
        f = results.get(case, OPEN, contender)
        if f is None:
            continue
        small = results.get(SMALL, OPEN, contender)
        vs_curl = times(ratio(f.seconds, curl)) if case == BIG else "-"
        vs_small = times(ratio(f.max_rss, small.max_rss)) if small else "-"
        size = size_name(sizes[case])
        label = "curl" if contender == CURL_SEQ else contender
        rows.append([size, label, f"{f.seconds:.2f}", vs_curl, mib(f.bytes_sent), mib(f.max_rss), vs_small])
    return markdown_table(headers, rows)


def segmented_table(results: Results) -> str:
    """One big file behind limit_rate: one curl, aria2c with the budget, each importer."""
    headers = ["contender", "connections", "wall s", "x aria2c", "x curl", "MiB pulled", "requests", "most at once"]
    aria2, curl = results.seconds(SEGMENTED, LIMITED, ARIA2), results.seconds(SEGMENTED, LIMITED, CURL_SEQ)
    rows = []
    for contender in (CURL_SEQ, ARIA2, *results.importers):
        f = results.get(SEGMENTED, LIMITED, contender)
        if f is None:
            continue
        label = "curl" if contender == CURL_SEQ else contender
        budget = "1" if contender == CURL_SEQ else "4 (the budget)"
        cells = [f"{f.seconds:.2f}", times(ratio(f.seconds, aria2)), times(ratio(f.seconds, curl))]
        cells += [mib(f.bytes_sent), statuses(f.requests), str(max_in_flight(f.requests))]
        rows.append([label, budget, *cells])
    return markdown_table(headers, rows)


def verdict(target: str, value: float | None, limit: float, show: Callable[[float], str]) -> Verdict:
    if value is None:
        return Verdict(target, "not measured", None)
    return Verdict(target, show(value), value <= limit)


def share(value: float) -> str:
    return f"{100 * value:.3f} %"


def targets(results: Results, label: str) -> list[Verdict]:
    """The issue's targets against the figures of importer `label`."""
    noop = results.get(NOOP, LIMITED, label) or results.get(NOOP, OPEN, label)
    small, big = results.get(SMALL, OPEN, label), results.get(BIG, OPEN, label)
    iso = results.get(ISO, OPEN, label)
    big_size = size_name(results.big_bytes)
    return [
        verdict(
            "no-op bytes ≤ 1 % of image bytes", noop.bytes_sent / results.image_bytes if noop else None, 0.01, share
        ),
        verdict(
            "rate-limited no-op wall ≤ 0.02x the 2012 script's",
            ratio(results.seconds(NOOP, LIMITED, label), results.seconds(NOOP, LIMITED, OLD)),
            0.02,
            times,
        ),
        verdict(
            "rate-limited full import ≤ 1.25x curl all at once",
            ratio(results.seconds(FULL, LIMITED, label), results.seconds(FULL, LIMITED, CURL_PAR)),
            1.25,
            times,
        ),
        verdict(
            "rate-limited full import ≤ 1.1x curl with the same connections (xargs -P)",
            ratio(results.seconds(FULL, LIMITED, label), results.seconds(FULL, LIMITED, CURL_BUDGET)),
            1.1,
            times,
        ),
        verdict(
            f"rate-limited {size_name(results.limited_bytes)} file ≤ 1.1x aria2c with the same connections",
            ratio(results.seconds(SEGMENTED, LIMITED, label), results.seconds(SEGMENTED, LIMITED, ARIA2)),
            1.1,
            times,
        ),
        verdict(
            f"unthrottled {big_size} import ≤ 1.1x curl then fsync",
            ratio(results.seconds(BIG, OPEN, label), results.seconds(BIG, OPEN, CURL_SYNC)),
            1.1,
            times,
        ),
        verdict(
            f"peak RSS with {size_name(results.iso_bytes)} ≤ 1.2x with {size_name(results.small_bytes)}",
            ratio(iso.max_rss, small.max_rss) if iso and small else None,
            1.2,
            times,
        ),
        verdict(
            f"unthrottled {big_size} import ≤ 1.3x curl",
            ratio(results.seconds(BIG, OPEN, label), results.seconds(BIG, OPEN, CURL_SEQ)),
            1.3,
            times,
        ),
        verdict(
            f"peak RSS with {big_size} ≤ 1.2x with {size_name(results.small_bytes)}",
            ratio(big.max_rss, small.max_rss) if big and small else None,
            1.2,
            times,
        ),
        verdict(
            f"peak RSS with {big_size} < 150 MiB",
            big.max_rss / MiB if big else None,
            150 - 1e-9,
            lambda v: f"{v:.1f} MiB",
        ),
    ]


def targets_table(results: Results) -> str:
    """One row per target; a measured and a met column per importer."""
    marks = {True: "met", False: "**not met**", None: "-"}
    per_importer = [targets(results, label) for label in results.importers]
    headers = ["target (issues 6 and 13)"]
    for label in results.importers:
        headers += [label if len(results.importers) > 1 else "measured", "met?"]
    rows = []
    for i, first in enumerate(per_importer[0]):
        row = [first.target]
        for verdicts in per_importer:
            row += [verdicts[i].figure, marks[verdicts[i].met]]
        rows.append(row)
    return markdown_table(headers, rows)


def tables(results: Results) -> str:
    """Every table, with a heading each: what `python -m bench.run` prints and BENCHMARKS.md holds."""
    parts = [
        f"### Full import, 2 arches x 3 releases ({results.image_files} files, {mib(results.image_bytes)} MiB)",
        full_table(results),
        "### No-op re-run (nothing changed upstream)",
        noop_table(results),
        f"### {size_name(results.big_bytes)} initrd (unthrottled) and peak RSS",
        big_table(results),
        f"### One {size_name(results.limited_bytes)} file behind limit_rate {results.rate} (per connection)",
        segmented_table(results),
        "### Targets",
        targets_table(results),
    ]
    return "\n\n".join(parts)
