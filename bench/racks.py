"""`python -m bench.racks`: how fast N racks follow a region that imported one new release, and what it costs.

For each N (1, 3, 6 by default), one after the other in one run: a loopback upstream archive of
stand-ins sized like Debian 12's netboot set (an 8 MiB `linux`, a 32 MiB `initrd.gz`, the loaders),
a region and N rack workers as separate processes over the local RabbitMQ (tools.racksite). The
racks first converge to bookworm; then the region imports one new release at a time (3 by default),
and for each: when the region's index named it (the index's mtime), when each rack's TFTP root
served it (its install link's mtime: the atomic swap), when every rack's report said so in the
region's database. Bytes come from the two HTTP servers' logs: upstream (the region's import) and
the region's egress (what racks fetched from its publish root), and from the racks' own reports.

`--write` puts the figures in BENCHMARKS.md between the racks markers (bench.run keeps them)."""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pxeimport.publication import INDEX
from tools.archive import ArchiveTree
from tools.httpserver import ArchiveServer
from tools.racksite import PROJECT, Site, install_link, wait_until
from tools.signing import ArchiveSigner

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
MIB = 1 << 20
START = "<!-- bench.racks: written by `python -m bench.racks --write` -->"
END = "<!-- /bench.racks -->"
# The releases the region adds, one per sample (any safe name is a release to the importer).
NEW_RELEASES = ("trixie", "forky", "duke", "sid", "experimental")
FIRST = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


@dataclass(frozen=True)
class Sizes:
    """Bytes of each stand-in: Debian 12's amd64 netboot has a ~7.5 MiB linux and a ~31 MiB initrd.gz."""

    linux: int = 8 * MIB
    initrd: int = 32 * MIB
    loader: int = 128 << 10

    def files(self, tag: str) -> dict[str, bytes]:
        def blob(name: str, size: int) -> bytes:
            seed = f"{tag}:{name}:".encode()
            return (seed * (size // len(seed) + 1))[:size]

        return {
            "linux": blob("linux", self.linux),
            "initrd.gz": blob("initrd.gz", self.initrd),
            "pxelinux.0": blob("pxelinux.0", self.loader),
            "boot-screens/ldlinux.c32": blob("ldlinux.c32", self.loader),
        }


@dataclass(frozen=True)
class Row:
    """One new release followed by `racks` racks. Seconds from the start of the region's import."""

    racks: int
    import_seconds: float
    published: float
    first_serving: float
    last_serving: float
    all_reported: float
    upstream_bytes: int
    egress_bytes: int
    egress_file_bytes: int
    index_fetches: int
    rack_bytes: tuple[int, ...]
    release_bytes: int

    @property
    def tail(self) -> float:
        """Seconds from the region's index naming the new release to the last rack serving it."""
        return self.last_serving - self.published


def measure(racks: int, sizes: Sizes, work: Path, signer: ArchiveSigner, releases: Sequence[str]) -> list[Row]:
    """One region and `racks` racks: converge to bookworm, then time and count each new release's import."""
    archive = ArchiveTree(work / "upstream", signer=signer)
    archive.publish("bookworm", "amd64", sizes.files("bookworm"))
    names = [f"r{i}" for i in range(1, racks + 1)]
    with ArchiveServer(archive.root) as upstream:
        site = Site(work, upstream, signer.keyring, BROKER)
        try:
            site.region_import(selection=FIRST)
            site.start_region_worker()
            for name in names:
                site.start_rack(name)
            wait_until("every rack serves bookworm", lambda: site.racks_in_sync(names, "bookworm"), 300)
            selection = list(FIRST)
            found = []
            for release in releases:
                archive.publish(release, "amd64", sizes.files(release))
                selection += ["--release", release]
                found.append(one_release(site, upstream, names, release, selection))
            return found
        except AssertionError:
            for log in sorted(work.glob("*.log")):  # what the workers said, before the temporary dir goes
                print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
            raise
        finally:
            site.close()


def one_release(site: Site, upstream: ArchiveServer, names: list[str], release: str, selection: list[str]) -> Row:
    """The region imports `selection` (now naming `release`); wait for every rack to serve and report it.

    Times are file timestamps on this one machine's clock: the index's mtime (published) and each
    rack's install link's (made by its atomic swap); the reports are polled every 20 ms.
    """
    upstream.clear_requests()
    site.region_http.clear_requests()
    began, clock = time.time(), time.monotonic()
    site.region_import(selection=selection)
    imported = time.monotonic() - clock
    wait_until(f"every rack serves {release}", lambda: site.racks_serving(names, release), 300, every=0.02)
    wait_until(f"every rack reports {release}", lambda: site.racks_in_sync(names, release), 300, every=0.02)
    reported = time.time() - began
    serving = [os.lstat(install_link(site.rack_root(n), release)).st_mtime - began for n in names]
    pulled = {str(n): int(str(b)) for n, b in site.region_rows("SELECT name, last_sync_bytes FROM pxeimport_rack")}
    requests = site.region_http.requests
    served = install_link(site.region_root, release)
    return Row(
        racks=len(names),
        import_seconds=imported,
        published=(site.publish_root / INDEX).stat().st_mtime - began,
        first_serving=min(serving),
        last_serving=max(serving),
        all_reported=reported,
        upstream_bytes=sum(r.bytes_sent for r in upstream.requests),
        egress_bytes=sum(r.bytes_sent for r in requests),
        egress_file_bytes=site.file_bytes(),
        index_fetches=sum(1 for r in requests if r.path.endswith(f"/{INDEX}")),
        rack_bytes=tuple(pulled[n] for n in names),
        release_bytes=sum(p.stat().st_size for p in served.iterdir() if p.name in ("linux", "initrd.gz")),
    )


def mib(n: float) -> str:
    return f"{n / MIB:.1f}"


def spread(values: Sequence[float]) -> str:
    """The median, and the range when the runs differ: "1.23 (1.10-1.40)"."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.2f}" if high - low < 0.005 else f"{mid:.2f} ({low:.2f}-{high:.2f})"


def table(runs: Mapping[int, Sequence[Row]]) -> str:
    """One line per N: times as the median of its new releases (range in brackets), bytes of the last."""
    lines = [
        "| racks | region import s | index published s | last rack serves s | all reported s "
        "| published to last rack s | upstream MiB | region egress MiB | per rack MiB | files per rack MiB (reports) "
        "| index fetches |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, rows in runs.items():
        r = rows[-1]
        pulled = sorted({mib(b) for row in rows for b in row.rack_bytes}, key=float)
        per_rack = pulled[0] if len(pulled) == 1 else f"{pulled[0]} to {pulled[-1]}"
        times = [
            spread([getattr(row, name) for row in rows])
            for name in ("import_seconds", "published", "last_serving", "all_reported", "tail")
        ]
        upstream = "/".join(sorted({mib(row.upstream_bytes) for row in rows}))
        egress = f"{mib(r.egress_bytes)} | {mib(r.egress_bytes / count)} | {per_rack}"
        lines.append(f"| {count} | {' | '.join(times)} | {upstream} | {egress} | {r.index_fetches} |")
    return "\n".join(lines)


def section(runs: Mapping[int, Sequence[Row]], releases: Sequence[str], command: str, seconds: float) -> str:
    """The BENCHMARKS.md section: how, the figures, what they say."""
    machine = f"{os.cpu_count()} CPUs, Linux {os.uname().release}, Python {sys.version.split()[0]}"
    load = os.getloadavg()[0]
    counts = list(runs)
    # The same new release costs the same upstream bytes whatever N (its index grows with the releases).
    upstream = [{rows[i].upstream_bytes for rows in runs.values()} for i in range(len(releases))]
    same = all(len(found) == 1 for found in upstream)
    listed = ", ".join(f"{r}: " + "/".join(map(str, sorted(b))) for r, b in zip(releases, upstream, strict=True))
    one = runs[counts[0]][-1]
    index_kib = (one.egress_bytes - one.egress_file_bytes) / one.racks / 1024
    fetches = one.index_fetches // one.racks
    tails = {n: statistics.median(r.tail for r in rows) for n, rows in runs.items()}
    return "\n".join(
        [
            START,
            "",
            "## Many TFTP servers: racks following a region (issue 16)",
            "",
            f"- Command: `{command}` (or `make bench-racks`); the whole run took {seconds:.0f} s",
            f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine}; "
            f"1-minute load {load:.1f} at the end (the machine is shared with other work)",
            f"- Set-up per N = {', '.join(map(str, counts))}, one after the other in one run: a loopback upstream "
            f"archive of stand-ins ({mib(one.release_bytes)} MiB per release: `linux` and `initrd.gz`, plus two "
            "128 KiB loaders), a region and N `rack_worker` processes, each with its own SQLite database and TFTP "
            "root, over the local RabbitMQ; the upstream and the region's publish root are served by Python's "
            "HTTP server on loopback (logging each response's bytes).",
            f"- Measured: the racks serve bookworm; the region then imports one new release ({', '.join(releases)}, "
            "one after the other: each a row's sample) with `import_pxe_files`, which publishes and, on commit, "
            "asks each rack to converge. Times run from the start of that import: *index published* is the "
            "index's mtime, *rack serves* each rack's install link's mtime (its atomic swap), *all reported* "
            "when every rack's report says so in the region's database (what the admin shows; polled every "
            "20 ms). Times are medians over the new releases, with the range; bytes are the last release's, "
            "headers and bodies; *files per rack* is each rack's own report of what it pulled.",
            "",
            table(runs),
            "",
            f"- Upstream bytes of each new release are {'the same, to the byte,' if same else 'NOT the same'} for "
            f"every N ({listed} bytes): racks never reach upstream.",
            f"- Region egress is N x one release: each rack pulls the new kernel and initrd "
            f"({mib(one.release_bytes)} MiB) and {index_kib:.1f} KiB of index ({fetches} "
            f"fetch{'' if fetches == 1 else 'es'} of `{INDEX}` per converge); the unchanged bookworm set and the "
            "loaders cost no file byte.",
            f"- From the region's index naming the release to the last rack serving it: {tails[counts[0]]:.2f} s "
            f"for {counts[0]} rack(s), {tails[counts[-1]]:.2f} s for {counts[-1]} "
            f"({tails[counts[-1]] / max(tails[counts[0]], 1e-3):.1f}x; medians). The wake-up's share is bounded "
            f"by the {counts[0]}-rack figure, which also holds fetching, hashing and swapping a release; the "
            "region, its HTTP server and N racks share this machine's cores, so larger N is CPU-bound here "
            "(the region's own import, still ending when the racks start, takes longer too).",
            "",
            END,
        ]
    )


def write_section(path: Path, text: str) -> None:
    """Replace the racks section of `path` (or append it)."""
    current = path.read_text() if path.exists() else ""
    if START in current and END in current:
        current = (
            current[: current.index(START)].rstrip("\n")
            + "\n\n"
            + current[current.index(END) + len(END) :].lstrip("\n")
        )
    path.write_text(current.rstrip("\n") + "\n\n" + text + "\n")


def kept_section(path: Path) -> str:
    """The racks section of `path` ("" if none): bench.run keeps it when it rewrites the file."""
    current = path.read_text() if path.exists() else ""
    if START not in current or END not in current:
        return ""
    return current[current.index(START) : current.index(END) + len(END)]


def broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.racks", description=__doc__.split("\n")[0])
    parser.add_argument("--racks", default="1,3,6", help="Comma-separated rack counts (default 1,3,6).")
    parser.add_argument("--initrd-mib", type=int, default=32, help="Size of the stand-in initrd.gz in MiB (32).")
    parser.add_argument(
        "--repeat", type=int, default=3, choices=range(1, len(NEW_RELEASES) + 1), help="New releases per N (3)."
    )
    parser.add_argument("--write", action="store_true", help="Write the figures into BENCHMARKS.md.")
    args = parser.parse_args(argv)
    if not broker_up():
        print("bench.racks: RabbitMQ is not running on 127.0.0.1:5672 (rabbitmq-server -detached)", file=sys.stderr)
        return 1
    sizes = Sizes(initrd=args.initrd_mib * MIB)
    counts = [int(n) for n in args.racks.split(",")]
    releases = NEW_RELEASES[: args.repeat]
    began = time.monotonic()
    runs: dict[int, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-racks-") as tmp:
        signer = ArchiveSigner(Path(tmp) / "signer")
        try:
            for count in counts:
                work = Path(tmp) / f"n{count}"
                work.mkdir()
                runs[count] = measure(count, sizes, work, signer, releases)
                print(f"N={count}: done", file=sys.stderr)
        finally:
            signer.close()
    python = Path(sys.executable)
    shown = f"./{python.relative_to(PROJECT)}" if python.is_relative_to(PROJECT) else str(python)
    text = section(runs, releases, shlex.join([shown, "-m", "bench.racks", *argv]), time.monotonic() - began)
    print(text)
    if args.write:
        write_section(PROJECT / "BENCHMARKS.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
