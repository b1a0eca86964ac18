"""Run commands as one measured step: wall time, each process's peak RSS (wait4), and what the server sent."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.archive import BenchError
from bench.nginx import AccessLog, LogEntry, total_bytes

Command = Sequence[str]
# The server is on loopback: no proxy may stand between it and what is measured.
LOOPBACK_DIRECT = {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


@dataclass(frozen=True)
class Job:
    """Commands that run at once; a list of jobs runs one job after the other."""

    commands: tuple[Command, ...]
    env: dict[str, str] | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class Sample:
    """One measured run."""

    seconds: float
    max_rss: int
    requests: list[LogEntry]


@dataclass
class Figures:
    """The samples of one case: the best wall time (noise only adds), the largest RSS, the last run's requests."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    @property
    def seconds(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def max_rss(self) -> int:
        return max(s.max_rss for s in self.samples)

    @property
    def requests(self) -> list[LogEntry]:
        return self.samples[-1].requests

    @property
    def bytes_sent(self) -> int:
        return total_bytes(self.requests)


def reap(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Wait for `process`; its exit code and the peak RSS in bytes of it and its waited-for descendants."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


def run_job(job: Job, output: Path) -> int:
    """Start the job's commands together, wait for all; the largest peak RSS. BenchError if one fails."""
    started: list[subprocess.Popen[bytes]] = []
    failed: list[str] = []
    peak = 0
    with open(output, "ab") as out:
        try:
            for command in job.commands:
                out.write(f"$ {shlex.join(command)}\n".encode())
                out.flush()
                started.append(
                    subprocess.Popen(
                        command,
                        cwd=job.cwd,
                        env={**(job.env or os.environ), **LOOPBACK_DIRECT},
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=out,
                        start_new_session=True,
                    )
                )
            for process, command in zip(started, job.commands, strict=True):
                code, rss = reap(process)
                peak = max(peak, rss)
                if code != 0:
                    failed.append(f"`{shlex.join(command)}` exited {code}")
        finally:
            stop_all(started)
    if failed:
        tail = output.read_text(errors="replace").strip().splitlines()[-8:]
        raise BenchError("; ".join(failed[:3]) + "\n" + "\n".join(tail))
    return peak


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Kill what is still running (after Ctrl-C or a failure), with its children, and reap it."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        if process.returncode is None:
            process.wait()


def measure(jobs: Sequence[Job], log: AccessLog, output: Path) -> Sample:
    """Run `jobs` one after the other; the whole wall time, the peak RSS, and the requests served meanwhile."""
    mark = log.mark()
    begin = time.monotonic()
    peak = max((run_job(job, output) for job in jobs), default=0)
    seconds = time.monotonic() - begin
    return Sample(seconds, peak, log.since(mark))
