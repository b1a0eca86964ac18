"""`python -m bench.isoextract`: an ISO-sized image downloaded and verified, then its kernel and
initrd extracted, by pxeimport's own code (pxeimport.fetching.client, pxeimport.extraction.iso) from our nginx,
unthrottled; the extraction's time as a fraction of the download's, and peak RSS (issue 13).

The image is a stand-in for Ubuntu's live-server ISO made with xorriso (tools/iso.py): casper/vmlinuz
(15 MiB), casper/initrd (72 MiB) and a filler in the squashfs's place up to the size asked for, as
on ubuntu-24.04.x-live-server-amd64.iso (3.1 GB, a kernel of about 15 MB and an initrd of about
70 MB). Each run is a child process (its peak RSS from wait4), after sync(2), into an empty dir;
curl of the same image is measured beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.archive import MiB, write_stand_in
from bench.nginx import Nginx
from tools.iso import live_server_members, make_iso

MEMBERS = {"vmlinuz": "casper/vmlinuz", "initrd": "casper/initrd"}
KERNEL_BYTES, INITRD_BYTES = 15 * MiB, 72 * MiB


def child(url: str, sha256: str, dest: Path) -> None:
    """In the measured process: download and verify, then extract; print the two times as JSON."""
    from pxeimport.extraction import extract_iso as extract
    from pxeimport.fetching import Fetcher

    began = time.monotonic()
    done = Fetcher().download(url, dest / "image.iso", sha256)
    downloaded = time.monotonic()
    extract(done.path, MEMBERS, dest, max_bytes=1 << 30)
    extracted = time.monotonic()
    print(json.dumps({"download": downloaded - began, "extract": extracted - downloaded}))


def run(command: list[str]) -> tuple[float, int, str]:
    """(wall s, peak RSS bytes, stdout) of `command`, after sync(2)."""
    os.sync()
    began = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed: {out}")
    return wall, usage.ru_maxrss * 1024, out


def build(web: Path, size: int) -> tuple[Path, str]:
    """The stand-in image under `web`, and its SHA-256."""
    scratch = web.parent / "scratch"
    kernel = write_stand_in(scratch / "vmlinuz", KERNEL_BYTES, "kernel")
    initrd = write_stand_in(scratch / "initrd", INITRD_BYTES, "initrd")
    filler = write_stand_in(scratch / "filler", size - KERNEL_BYTES - INITRD_BYTES - MiB, "squashfs")
    members = {**live_server_members(kernel, initrd), "casper/ubuntu-server-minimal.squashfs": filler}
    iso = make_iso(web / "live-server.iso", members)
    shutil.rmtree(scratch)
    digest = hashlib.sha256()
    with open(iso, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return iso, digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.isoextract", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=3072, help="The image's size (default: 3072).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each contender, interleaved (default 3).")
    parser.add_argument("--child", nargs=3, metavar=("URL", "SHA256", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="pxeimport-isobench-"))
    try:
        web = work / "www"
        web.mkdir()
        iso, sha256 = build(web, args.size_mib * MiB)
        print(f"image: {iso.stat().st_size / MiB:.1f} MiB, SHA-256 {sha256[:16]}...", flush=True)
        load = os.getloadavg()[0]
        rows: dict[str, list[tuple[float, float, float, int]]] = {"curl": [], "pxeimport": []}
        with Nginx(web, work / "nginx", "2m") as nginx:
            url = nginx.url(throttled=False) + iso.name
            for _ in range(args.repeat):
                dest = work / "run"
                dest.mkdir()
                wall, rss, _ = run(["curl", "--silent", "--fail", "--output", str(dest / "image.iso"), url])
                rows["curl"].append((wall, wall, 0.0, rss))
                shutil.rmtree(dest)
                dest.mkdir()
                code = [sys.executable, "-m", "bench.isoextract", "--child", url, sha256, str(dest)]
                wall, rss, out = run(code)
                times = json.loads(out)
                rows["pxeimport"].append((wall, times["download"], times["extract"], rss))
                print(f"  pxeimport {wall:.2f} s: download {times['download']:.2f} s, extract {times['extract']:.2f} s")
                shutil.rmtree(dest)
        print(f"\nLoad: 1-minute load average {load:.1f} when the runs began and {os.getloadavg()[0]:.1f} at the end")
        print(f"Best of {args.repeat} (by wall time); {args.size_mib} MiB image, kernel 15 MiB, initrd 72 MiB\n")
        print("| contender | wall s | download s | extraction s | extraction / download | peak RSS MiB |")
        print("|-----------|-------:|-----------:|-------------:|----------------------:|-------------:|")
        for name, samples in rows.items():
            wall, down, ext, rss = min(samples)
            ratio = f"{ext / down:.3f}" if name == "pxeimport" else "-"
            shown = f"{ext:.2f}" if name == "pxeimport" else "-"
            print(f"| {name} | {wall:.2f} | {down:.2f} | {shown} | {ratio} | {rss / MiB:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
