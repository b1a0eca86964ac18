"""BENCHMARKS.md: how the figures were made (command, date, machine, method), the figures, and the reading."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.reading import reading
from bench.results import Results
from bench.tables import tables


@dataclass(frozen=True)
class Context:
    """What BENCHMARKS.md says about how the figures were made."""

    command: str
    date: str
    importers: tuple[str, ...]
    archive: str
    repeat: int
    load: tuple[float, float]


METHOD = """\
- **Wall time** is the best of the runs of a case (noise only ever adds time); the cases run interleaved.
  With several importers, their order in the 1 GiB case turns by one each repeat: on a VM that
  hands free memory back to its host, the run after curl's meets colder memory than the next.
- **Bytes pulled** are read from nginx's access log: the sum of `$bytes_sent` (headers and body) of the
  requests logged while the run was going. **Requests** counts them by status; **most at once** is the
  most requests being served at one moment (from each one's `$msec` and `$request_time`).
- **Peak RSS** is `ru_maxrss` from `wait4(2)` on the process started (for a run of several processes, the
  largest): the peak of it and of every descendant it waited for. For pxeimport that is the `manage.py`
  process; gpgv is smaller.
- **curl** fetches the files an import needs: per arch `pxelinux.0` and `boot-screens/ldlinux.c32` of the
  current release, and `linux` and `initrd.gz` of each release; one `curl` process per file, one after
  another or all at once, with `--remote-time` so that `--time-cond` (If-Modified-Since) matches nginx's
  exact Last-Modified check. No index is fetched. **curl, xargs -P 4** runs the same curls four at a
  time: the importer's default budget of connections per host (`PXEIMPORT_JOBS`), spent by curl.
- **aria2c -x4 -s4** (Debian's aria2, its other options default) fetches the one big file behind
  `limit_rate` in four segments, as pxeimport may with its budget of four; pxeimport imports the whole
  one-arch archive that file is the initrd of (its indexes and four small files besides). A reduced
  configuration: that file is 256 MiB, not issue 13's 1 GiB, since single curl alone would take nine
  minutes of the run at 2 MB/s; once every connection is busy the ratio to aria2c does not depend on
  the size (both move size / (4 x rate)), and the 1 GiB file is measured unthrottled.
- **The ISO-sized file** is a stand-in initrd of an ISO's size in a one-arch archive, imported unthrottled
  once, for its peak RSS; nothing is extracted from it. The ubuntu-iso layout's extraction (kernel and
  initrd out of a verified ISO) is timed by `python -m bench.isoextract`, a section of its own below.
- **The 2012 script** is run from `../shared/seed/` (never copied) with `DOWNLOAD='curl -O --silent --fail'`;
  it fetches `pxelinux.0` but not `ldlinux.c32`.
- **pxeimport** is `manage.py import_pxe_files --archive … --tftproot … --keyring … --arch … --release …
  --current-release bookworm -v0`, each importer on a throwaway SQLite database of its own (migrated
  first), each full import into an empty TFTP root, each no-op into the root its full import filled.
- Before each run the harness calls `sync(2)`, so that no run pays for an earlier run's writeback.
- nginx's `limit_rate` lets a response's last socket buffer go at once, so a rate-limited file arrives a
  little faster than size / rate; that holds for every contender alike.
- Ratios are taken within this one run, side by side: the machine is shared, so absolute times vary from
  run to run, and only the ratios are meant to be compared."""


def machine() -> str:
    """nproc, memory, CPU, kernel, Python, nginx and curl; no host names."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory = next((int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemTotal")), 0)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown CPU")
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


def document(results: Results, context: Context) -> str:
    """The whole of BENCHMARKS.md."""
    importers = "\n".join(
        f"- Importer `{label}`: {text}" for label, text in zip(results.importers, context.importers, strict=True)
    )
    readings = "\n".join(f"- {line}" for line in reading(results))
    return f"""# Benchmarks

<!-- Written by `python -m bench.run`; run it again rather than editing the figures by hand. -->

Issue 6's harness (`bench/`), extended for issue 13: pxeimport against the 2012 `maas-import-pxe-files`
script, plain curl and aria2c, all pulling from our own nginx on 127.0.0.1, once unthrottled and once
with `limit_rate {results.rate};` (per connection).

- Command: `{context.command}`
- Date: {context.date}
- Machine: {machine()}
- Load: 1-minute load average {context.load[0]:.1f} when the runs began and {context.load[1]:.1f} when they ended
  (the machine is shared with other work)
{importers}
- Archive: {context.archive}
- Repeats: each unthrottled case and each no-op ran {context.repeat}x, interleaved; each rate-limited full import,
  the 2012 script's rate-limited no-op (about two minutes each), each rate-limited big-file run and
  the ISO-sized import ran once.

## How

{METHOD}

## Figures

{tables(results)}

## Reading

{readings}
"""
