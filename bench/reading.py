"""What the figures say, in sentences derived from the figures and the access log alone."""

from __future__ import annotations

from bench.archive import size_name
from bench.measure import Figures
from bench.nginx import LogEntry, max_in_flight, repeated_uris, status_counts
from bench.results import (
    BIG,
    CURL_PAR,
    CURL_SEQ,
    CURL_SYNC,
    FULL,
    HASH,
    LIMITED,
    NO_SERVER,
    NOOP,
    OLD,
    OPEN,
    MiB,
    Results,
    mib,
    startup,
)

# What an importer reads before any netboot file: the signed release file and the installer indexes.
INDEX_NAMES = frozenset({"InRelease", "Release", "Release.gpg", "SHA256SUMS", "SHA256SUMS.gpg"})


def netboot_file(entry: LogEntry) -> str | None:
    """`<arch>/<name>` below the installer's netboot directory; None for an index."""
    if entry.path.rsplit("/", 1)[-1] in INDEX_NAMES:
        return None
    return entry.path.rsplit("/netboot/", 1)[-1].split("/", 1)[-1]


def full_reading(results: Results, label: str) -> list[str]:
    pxe, seq, par = (results.get(FULL, LIMITED, c) for c in (label, CURL_SEQ, CURL_PAR))
    if not (pxe and seq and par):
        return []
    at_once = max_in_flight(pxe.requests)
    line = (
        f"Full import behind `limit_rate {results.rate}`: {label} takes {pxe.seconds / par.seconds:.2f}x curl all at "
        f"once and {pxe.seconds / seq.seconds:.2f}x curl one after another (most requests at once: {at_once}; "
        f"curl all at once: {max_in_flight(par.requests)})."
    )
    if at_once == 1:
        line += (
            " One file at a time: its wall time is the sum of every file's time, where parallel curl's is the "
            "biggest file's; a per-connection limit (a busy mirror) makes that the main cost."
        )
    return [line]


def files_reading(results: Results, label: str) -> list[str]:
    pxe = results.get(FULL, OPEN, label) or results.get(FULL, LIMITED, label)
    curl = results.get(FULL, OPEN, CURL_SEQ) or results.get(FULL, LIMITED, CURL_SEQ)
    if not (pxe and curl):
        return []
    named = [(name, e) for e in pxe.requests if (name := netboot_file(e))]
    ours = {name for name, _ in named}
    theirs = {name for e in curl.requests if (name := netboot_file(e))}
    indexes = len(pxe.requests) - len(named)
    line = f"Full import: {label} makes {indexes} index requests and {len(named)} for netboot files"
    extra = sorted(ours - theirs)
    if extra:
        pulled = mib(sum(e.bytes_sent for name, e in named if name in extra))
        line += f"; beyond curl's files it also pulls {', '.join(f'`{n}`' for n in extra)} ({pulled} MiB)"
    skipped = sorted(theirs - ours)
    if skipped:
        line += f"; of curl's files it never asks for {', '.join(f'`{n}`' for n in skipped)}"
    return [line + ".", repeat_reading(pxe, label)]


def repeat_reading(pxe: Figures, label: str) -> str:
    repeated = repeated_uris(pxe.requests)
    if not repeated:
        return f"Full import: {label} asks for no URL twice."
    names = ", ".join(f"`{uri.rsplit('/', 1)[-1]}`" for uri in sorted(repeated)[:4])
    extra = sum(n - 1 for n in repeated.values())
    return f"Full import: {label} asks for {len(repeated)} URLs more than once ({extra} extra requests), e.g. {names}."


def noop_reading(results: Results, label: str) -> list[str]:
    pxe = results.get(NOOP, LIMITED, label) or results.get(NOOP, OPEN, label)
    if not pxe:
        return []
    counts = status_counts(pxe.requests)
    line = f"No-op re-run: {label} makes {len(pxe.requests)} requests for {pxe.bytes_sent:,} bytes"
    if pxe.requests and not counts.get(304):
        line += (
            ", every one answered 200 with the whole body: no conditional requests (If-None-Match, "
            "If-Modified-Since) by design, since no server's validator is believed (issue 12): each signed root "
            "index (InRelease) is fetched whole, and the indexes it lists come from the cache by their signed hash "
            "with no request"
        )
    elif pxe.requests and counts[304] == len(pxe.requests):
        line += ", every one answered 304 Not Modified: it asks conditionally and downloads no index again"
    elif pxe.requests:
        line += f", {counts[304]} of them answered 304 Not Modified"
    alone = results.get(NOOP, NO_SERVER, startup(label))
    if alone:
        line += f". Its start-up alone (`manage.py help import_pxe_files`) takes {alone.seconds:.2f} s"
    return [line + "."]


def old_reading(results: Results) -> list[str]:
    old = results.get(NOOP, LIMITED, OLD) or results.get(NOOP, OPEN, OLD)
    if not old:
        return []
    share = old.bytes_sent / results.image_bytes
    return [
        f"The 2012 script's no-op pulls {100 * share:.0f} % of the image bytes again: it never sees its files "
        "as unchanged, so its no-op costs a full import."
    ]


def overhead_reading(results: Results, label: str) -> list[str]:
    lines = []
    pxe, seq = results.get(FULL, OPEN, label), results.get(FULL, OPEN, CURL_SEQ)
    if pxe and seq:
        lines.append(
            f"Unthrottled full import: {label} takes {pxe.seconds / seq.seconds:.2f}x curl one after another; "
            "beyond moving bytes it starts Python and Django, checks signatures with gpgv, hashes every byte, "
            "fsyncs every file and records each install in the database."
        )
    big, curl = results.get(BIG, OPEN, label), results.get(BIG, OPEN, CURL_SEQ)
    if big and curl:
        line = (
            f"{size_name(results.big_bytes)} initrd: {label} takes {big.seconds / curl.seconds:.2f}x curl, "
            "which neither hashes nor fsyncs"
        )
        synced, hashed = results.get(BIG, OPEN, CURL_SYNC), results.get(BIG, OPEN, HASH)
        if synced:
            line += f"; curl followed by an fsync of the file takes {synced.seconds / curl.seconds:.2f}x curl"
        if hashed:
            line += f", and hashing the file alone (SHA-256, hashlib) {hashed.seconds / curl.seconds:.2f}x curl"
        if synced:
            line += f"; so {label} takes {big.seconds / synced.seconds:.2f}x curl followed by an fsync"
        lines.append(f"{line}. Its peak RSS is {big.max_rss / MiB:.1f} MiB.")
    return lines


def reading(results: Results) -> list[str]:
    """What the figures say, a few sentences per importer."""
    lines = []
    for label in results.importers:
        lines += full_reading(results, label) + files_reading(results, label)
        lines += noop_reading(results, label) + overhead_reading(results, label)
    return lines + old_reading(results)
