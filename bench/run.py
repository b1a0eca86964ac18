"""`python -m bench.run`: build the archives, serve them with nginx, run each contender, print and write figures."""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench.archive import SCALES, Archive, BenchError, Scale, build_full, build_single, describe
from bench.contenders import (
    OLD_SCRIPT,
    PROJECT,
    Pxeimport,
    aria2_job,
    curl_budget_job,
    curl_jobs,
    hash_job,
    old_script_job,
    sync_job,
)
from bench.document import Context, document
from bench.importers import importers
from bench.measure import Job, Sample, measure, run_job
from bench.nginx import Nginx, ensure_installed
from bench.racks import kept_section
from bench.reading import reading
from bench.results import (
    ARIA2,
    BIG,
    BUDGET,
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
    Results,
    mib,
    startup,
)
from bench.tables import tables
from tools.signing import ArchiveSigner


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--quick", dest="scale", action="store_const", const="quick", default="full", help="Same as --scale quick."
    )
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="full",
        help="full: Debian 12's real files and a 1 GiB initrd (default); quick: stand-ins, about a minute; "
        "tiny: stand-ins of a few KiB, for the tests.",
    )
    parser.add_argument("--repeat", type=int, metavar="N", help="Runs per unthrottled case (default: 3, quick: 1).")
    parser.add_argument("--rate", default="2m", help="nginx limit_rate of the rate-limited server (default: 2m).")
    parser.add_argument("--old-script", type=Path, default=OLD_SCRIPT, metavar="PATH", help="The 2012 script.")
    parser.add_argument("--skip-old-script", action="store_true", help="Leave the 2012 script out.")
    parser.add_argument("--skip-rate-limited", action="store_true", help="Leave the rate-limited server out.")
    parser.add_argument("--skip-big", action="store_true", help="Leave the big-initrd and peak-RSS cases out.")
    parser.add_argument(
        "--importer-rev",
        action="append",
        default=[],
        metavar="REV",
        help="Measure the importer of this git revision (exported with git archive) instead of the working tree; "
        "repeat it to compare revisions side by side.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="Write the report here (default: BENCHMARKS.md at full scale, nothing otherwise).",
    )
    parser.add_argument("--no-write", action="store_true", help="Print the figures only.")
    parser.add_argument("--workdir", type=Path, metavar="DIR", help="Where the temporary directory goes.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory (to look at the logs).")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Setup:
    """Everything a run needs once the archives are built and served."""

    workdir: Path
    nginx: Nginx
    full: Archive
    small: Archive | None
    big: Archive | None
    limited: Archive | None
    iso: Archive | None
    importers: list[Pxeimport]
    old_script: Path | None
    repeat: int

    def importer(self, label: str) -> Pxeimport:
        return next(pxe for pxe in self.importers if pxe.label == label)


class Bench:
    """Runs the cases side by side and collects their figures."""

    def __init__(self, setup: Setup, results: Results) -> None:
        self.setup = setup
        self.results = results
        self.output = setup.workdir / "runs.log"
        self._numbers = itertools.count(1)

    def contenders(self) -> list[str]:
        curls = [CURL_SEQ, CURL_PAR, CURL_BUDGET]
        return ([OLD] if self.setup.old_script else []) + curls + [p.label for p in self.setup.importers]

    def fresh_dir(self, label: str) -> Path:
        path = self.setup.workdir / "runs" / f"{next(self._numbers):03d}-{label.replace(' ', '-').replace(',', '')}"
        path.mkdir(parents=True)
        return path

    def measure(self, case: str, server: str, contender: str, jobs: Sequence[Job]) -> Sample:
        """One run of `jobs`, after a sync(2) so that no run pays for an earlier run's writeback."""
        os.sync()
        sample = measure(jobs, self.setup.nginx.log, self.output)
        self.results.add(case, server, contender).add(sample)
        pulled = mib(sum(r.bytes_sent for r in sample.requests))
        print(f"  {case:<12} {server:<12} {contender:<36} {sample.seconds:8.2f} s {pulled:>9} MiB", flush=True)
        return sample

    def jobs(self, contender: str, url: str, archive: Archive, dest: Path) -> list[Job]:
        """What `contender` runs to import `archive` from `url` into `dest` (again, for a no-op)."""
        dists = f"{url}{archive.prefix}dists/"
        if contender == OLD:
            assert self.setup.old_script is not None
            return [old_script_job(self.setup.old_script, dists, dest / "tftpboot", archive, dest / "tmp")]
        if contender == CURL_BUDGET:
            return [curl_budget_job(url, archive.files, dest, BUDGET)]
        if contender in (CURL_SEQ, CURL_PAR, CURL_COND):
            parallel, conditional = contender == CURL_PAR, contender == CURL_COND
            return curl_jobs(url, archive.files, dest, parallel=parallel, conditional=conditional)
        return [self.setup.importer(contender).import_job(dists, dest, archive)]

    def full_and_noop(self, server: str) -> None:
        """Each contender imports into an empty root (interleaved, `repeat` times), then again: the no-op."""
        throttled = server == LIMITED
        url = self.setup.nginx.url(throttled=throttled)
        latest: dict[str, Path] = {}
        for _ in range(1 if throttled else self.setup.repeat):
            for contender in self.contenders():
                dest = self.fresh_dir(f"{server}-{contender}")
                self.measure(FULL, server, contender, self.jobs(contender, url, self.setup.full, dest))
                if contender in latest:
                    shutil.rmtree(latest[contender])
                latest[contender] = dest
        for repetition in range(self.setup.repeat):
            if self.setup.old_script and (repetition == 0 or not throttled):
                self.measure(NOOP, server, OLD, self.jobs(OLD, url, self.setup.full, latest[OLD]))
            for pxe in self.setup.importers:
                self.measure(NOOP, server, pxe.label, self.jobs(pxe.label, url, self.setup.full, latest[pxe.label]))
                self.measure(NOOP, NO_SERVER, startup(pxe.label), [pxe.startup()])
            self.measure(NOOP, server, CURL_COND, self.jobs(CURL_COND, url, self.setup.full, latest[CURL_SEQ]))
        for dest in latest.values():
            shutil.rmtree(dest)

    def big_initrds(self) -> None:
        """Each importer with the small initrd; curl and each importer with the big one; interleaved,
        the importers' order turned by one each repeat: the run that follows curl's meets other free
        memory than one that follows an importer's (see BENCHMARKS.md, issue 13), so no importer
        always takes the same place."""
        assert self.setup.small is not None and self.setup.big is not None
        for repetition in range(self.setup.repeat):
            turn = repetition % len(self.setup.importers)
            order = self.setup.importers[turn:] + self.setup.importers[:turn]
            for pxe in order:
                self.import_once(SMALL, pxe, self.setup.small)
            self.curl_once(self.setup.big)
            for pxe in order:
                self.import_once(BIG, pxe, self.setup.big)

    def import_once(self, case: str, pxe: Pxeimport, archive: Archive, server: str = OPEN) -> None:
        """`pxe` imports `archive` (unthrottled unless `server` says otherwise) into an empty root."""
        dest = self.fresh_dir(f"{case}-{pxe.label}")
        url = self.setup.nginx.url(throttled=server == LIMITED)
        self.measure(case, server, pxe.label, self.jobs(pxe.label, url, archive, dest))
        shutil.rmtree(dest)

    def segmented(self) -> None:
        """One big file behind limit_rate: single curl, aria2c with the budget, each importer (once each)."""
        assert self.setup.limited is not None
        url, initrd = self.setup.nginx.url(throttled=True), self.setup.limited.initrd()
        dest = self.fresh_dir("segmented-curl")
        self.measure(SEGMENTED, LIMITED, CURL_SEQ, curl_jobs(url, (initrd,), dest, parallel=False))
        self.measure(
            SEGMENTED, LIMITED, ARIA2, [aria2_job(url + initrd.path, dest / "aria2" / initrd.local_name, BUDGET)]
        )
        shutil.rmtree(dest)
        for pxe in self.setup.importers:
            self.import_once(SEGMENTED, pxe, self.setup.limited, LIMITED)

    def iso_sized(self) -> None:
        """Each importer with an ISO-sized file, unthrottled, once: its peak RSS against the small case."""
        assert self.setup.iso is not None
        for pxe in self.setup.importers:
            self.import_once(ISO, pxe, self.setup.iso)

    def curl_once(self, archive: Archive) -> None:
        """curl the initrd; again, then fsync it; then hash it alone (the importer's hash, hashlib)."""
        url, initrd = self.setup.nginx.url(throttled=False), archive.initrd()
        dest = self.fresh_dir("big-curl")
        path = dest / initrd.local_name
        self.measure(BIG, OPEN, CURL_SEQ, curl_jobs(url, (initrd,), dest, parallel=False))
        self.measure(BIG, OPEN, CURL_SYNC, [*curl_jobs(url, (initrd,), dest, parallel=False), sync_job(path)])
        self.measure(BIG, OPEN, HASH, [hash_job(path)])
        shutil.rmtree(dest)


def workdir(args: argparse.Namespace, stack: ExitStack) -> Path:
    """A fresh temporary directory, removed on exit (also on Ctrl-C) unless --keep."""
    path = Path(tempfile.mkdtemp(prefix="pxeimport-bench-", dir=args.workdir))
    if args.keep:
        stack.callback(print, f"kept {path}")
    else:
        stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def make_signer(stack: ExitStack) -> ArchiveSigner:
    """A throwaway key in a short-named home of its own (gpg-agent's socket path must stay short)."""
    home = Path(tempfile.mkdtemp(prefix="pxbench-gpg-"))
    stack.callback(shutil.rmtree, home, ignore_errors=True)
    try:
        signer = ArchiveSigner(home / "home", uid="pxeimport bench archive <bench@test.invalid>")
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise BenchError(f"could not make a signing key with gpg: {exc} {detail.decode(errors='replace')}") from exc
    stack.callback(signer.close)
    return signer


def old_script(args: argparse.Namespace) -> Path | None:
    """The 2012 script's path, with distro-info (which it calls) installed; None with --skip-old-script."""
    if args.skip_old_script:
        return None
    path: Path = args.old_script.resolve()
    if not path.is_file():
        raise BenchError(f"the 2012 script is not at {path}: pass --old-script PATH or --skip-old-script")
    ensure_installed("distro-info", "distro-info")
    return path


def prepare(args: argparse.Namespace, scale: Scale, stack: ExitStack) -> Setup:
    """Build and sign the archives, start nginx, export the importers, migrate a throwaway database each."""
    script = old_script(args)
    work = workdir(args, stack)
    signer = make_signer(stack)
    web, scratch = work / "www", work / "scratch"
    print(f"Building the archives in {web} ({scale.name} scale)", flush=True)
    full = build_full(web, signer, scale, scratch)
    small = big = limited = iso = None
    if not args.skip_big:
        small = build_single(web, signer, "small", scale.small_initrd, scratch)
        big = build_single(web, signer, "big", scale.big_initrd, scratch)
        iso = build_single(web, signer, "iso", scale.iso_big, scratch)
        if not args.skip_rate_limited:
            ensure_installed("aria2c", "aria2")
            limited = build_single(web, signer, "limited", scale.limited_big, scratch)
    shutil.rmtree(scratch)
    nginx = stack.enter_context(Nginx(web, work / "nginx", args.rate))
    print(
        f"nginx serves them at {nginx.url(throttled=False)} and, with limit_rate {args.rate}, at "
        f"{nginx.url(throttled=True)}",
        flush=True,
    )
    chosen = importers(args.importer_rev, work, signer.keyring)
    for pxe in chosen:
        run_job(pxe.migrate(), work / "runs.log")
    repeat = args.repeat or scale.repeat
    return Setup(work, nginx, full, small, big, limited, iso, chosen, script, repeat)


def run_cases(args: argparse.Namespace, setup: Setup) -> Results:
    results = Results(
        image_bytes=setup.full.image_bytes,
        image_files=len(setup.full.files),
        rate=args.rate,
        small_bytes=setup.small.initrd().size if setup.small else 0,
        big_bytes=setup.big.initrd().size if setup.big else 0,
        limited_bytes=setup.limited.initrd().size if setup.limited else 0,
        iso_bytes=setup.iso.initrd().size if setup.iso else 0,
        importers=tuple(pxe.label for pxe in setup.importers),
    )
    bench = Bench(setup, results)
    print(f"Running (figures per run; {setup.workdir / 'runs.log'} has the commands and their output):", flush=True)
    bench.full_and_noop(OPEN)
    if not args.skip_big:
        bench.big_initrds()
        bench.iso_sized()
    if not args.skip_rate_limited:
        bench.full_and_noop(LIMITED)
        if not args.skip_big:
            bench.segmented()
    return results


def command_line(argv: Sequence[str]) -> str:
    python = Path(sys.executable)
    shown = f"./{python.relative_to(PROJECT)}" if python.is_relative_to(PROJECT) else str(python)
    return shlex.join([shown, "-m", "bench.run", *argv])


def output_path(args: argparse.Namespace) -> Path | None:
    if args.no_write:
        return None
    if args.output:
        return Path(args.output)
    return PROJECT / "BENCHMARKS.md" if args.scale == "full" else None


def bench(args: argparse.Namespace, argv: Sequence[str]) -> Results:
    """Run every case, print the figures, write the report; the figures."""
    scale = SCALES[args.scale]
    with ExitStack() as stack:
        setup = prepare(args, scale, stack)
        load_before = os.getloadavg()[0]
        results = run_cases(args, setup)
        load_after = os.getloadavg()[0]
    print()
    print(tables(results))
    print()
    print("\n".join(f"- {line}" for line in reading(results)))
    target = output_path(args)
    if target:
        context = Context(
            command=command_line(argv),
            date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            importers=tuple(pxe.described for pxe in setup.importers),
            archive=describe(scale, setup.full, setup.big),
            repeat=setup.repeat,
            load=(load_before, load_after),
        )
        racks = kept_section(target)  # bench.racks' figures, written by their own run
        target.write_text(document(results, context) + (f"\n{racks}\n" if racks else ""))
        print(f"\nWrote {target}")
    return results


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM cleans up as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        bench(args, argv)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; nginx stopped and temporary files removed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
