"""Kill real imports with SIGKILL at random moments, many times, and check the TFTP root after each.

    .venv/bin/python -m tools.kill_trials 500            # prints trials, mid-run kills, failures
    .venv/bin/python -m tools.kill_trials 200 --seed 7

A trial: publish a new version of two releases; let an import go (a real process, started ahead
with Django loaded, waiting on its stdin, so a trial's time goes to importing, not to starting
Python); SIGKILL it after a random delay within one import's length; check what nodes would
boot; import again in this process; check that run completes on the newest version and leaves
nothing behind. The grace period is 0, so deleting superseded versions is inside the window too.

After the kill, for each release and the loader: the stable paths serve a complete set, one of
the last two versions, byte for byte as its SHA256SUMS says; every version dir a pointer or a
boot menu names is intact; the lock is free. After the next run: exit 0, the newest version
everywhere, staging empty, no half-made link, no version dir but live ones, no run left
"running", and every version dir intact.

tests/importer/test_kill.py runs 50 trials; this script runs as many as asked, on its own SQLite database
in a temporary directory (or `--database-url`), and exits 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer

PROJECT = Path(__file__).resolve().parent.parent
ARCH = "amd64"
RELEASES = ("bookworm", "trixie")
ARGS = ("--arch", ARCH, "--release", "bookworm", "--release", "trixie", "--current-release", "bookworm")
LOADER_FILES = ("pxelinux.0", "ldlinux.c32")
MANIFEST = "SHA256SUMS"
# Small files keep a trial short; the downloads stay a fair share of an import's time.
FILE_SIZE = 64 * 1024
RATE = 0  # bytes per second the server sends during the killed imports; 0: as fast as it can

Version = dict[str, dict[str, bytes]]


@dataclass
class Figures:
    trials: int = 0
    killed_mid_run: int = 0  # still running when the SIGKILL came
    abandoned: int = 0  # runs the next one found "running" and marked abandoned
    failures: list[str] = field(default_factory=list)
    # Files a killed run left that no later run removed (relative to the TFTP root): not served
    # through any stable path, but the next run should clean them.
    leftovers: set[str] = field(default_factory=set)
    seconds: float = 0.0
    import_seconds: float = 0.0  # one whole import, measured before the trials

    def summary(self) -> str:
        per = self.seconds / self.trials if self.trials and self.seconds else 0.0
        return (
            f"trials: {self.trials}, killed mid-run: {self.killed_mid_run}, "
            f"runs left 'running' and marked abandoned: {self.abandoned}, failures: {len(self.failures)}, "
            f"leftovers never cleaned: {len(self.leftovers)}; "
            f"{self.seconds:.1f} s ({per:.2f} s a trial; one import takes {self.import_seconds:.2f} s)"
        )


class KillTrials:
    """Trials against `server` (serving `archive`) into `tftp_root`; imports share `database_url`.

    Needs Django set up in this process, on the same database (the recovery runs here).
    """

    def __init__(
        self,
        archive: ArchiveTree,
        server: ArchiveServer,
        tftp_root: Path,
        keyring: Path,
        database_url: str,
        *,
        seed: int,
        rate: int = RATE,
        file_size: int = FILE_SIZE,
        log: Path | None = None,
    ) -> None:
        self.archive = archive
        self.server = server
        self.root = tftp_root.absolute()
        self.keyring = keyring
        self.database_url = database_url
        self.rng = random.Random(seed)
        self.rate = rate
        self.file_size = file_size
        self.log = log
        self.versions: list[Version] = []
        self.argv = ("--archive", server.url + "dists/", "--tftproot", str(self.root), "--keyring", str(keyring))

    # The trials ----------------------------------------------------------------------------

    def run(self, trials: int, progress: Callable[[Figures], None] | None = None) -> Figures:
        figures = Figures()
        started = time.monotonic()
        self.server.set_rate(self.rate)
        self._publish()
        self._recover(figures, "set-up")
        figures.import_seconds = self._measure_one_import()
        # Two processes warm up ahead, while earlier trials are checked and recovered.
        warm = collections.deque([self._spawn(), self._spawn()])
        try:
            for trial in range(1, trials + 1):
                self._publish()
                child = warm.popleft()
                warm.append(self._spawn())
                self._go(child)
                time.sleep(self.rng.uniform(0.0, figures.import_seconds * 1.1))
                if child.poll() is None:
                    figures.killed_mid_run += 1
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)
                problems = self._check_after_kill()
                problems += self._recover(figures, f"trial {trial}")
                problems += self._check_after_recovery(figures)
                figures.failures += [f"trial {trial}: {p}" for p in problems]
                figures.trials += 1
                figures.seconds = time.monotonic() - started
                if progress is not None:
                    progress(figures)
        finally:
            for child in warm:
                child.kill()
                child.wait(timeout=30)
            figures.seconds = time.monotonic() - started
        return figures

    def _publish(self) -> None:
        tag = f"v{len(self.versions)}"
        version = {}
        for release in RELEASES:
            files = netboot_files(f"{tag}-{release}", size=self.file_size)
            self.archive.publish(release, ARCH, files)
            version[release] = files
            # Only `current` is ever read again: keep the archive small over thousands of trials.
            installer = self.archive.installer_path(release, ARCH)
            live = os.readlink(installer / "current")
            for old in installer.iterdir():
                if old.name not in (live, "current") and not old.is_symlink():
                    shutil.rmtree(old)
        self.versions.append(version)

    def _spawn(self) -> subprocess.Popen[str]:
        """An import process that has loaded Django and waits for "go" on its stdin."""
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "settings",
            "PXEIMPORT_GRACE_SECONDS": "0",
        }
        with open(self.log or os.devnull, "a") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "tools.kill_trials", "--child", *self.argv, *ARGS, "-v0"],
                cwd=PROJECT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    @staticmethod
    def _go(child: subprocess.Popen[str]) -> None:
        assert child.stdin is not None and child.stdout is not None
        ready = child.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the import process did not start (exit {child.wait()}): {ready!r}")
        child.stdin.write("go\n")
        child.stdin.flush()

    def _measure_one_import(self, runs: int = 3) -> float:
        """The shortest length of uninterrupted imports (each of a new version), from "go" to exit: kills are
        timed within it, so a slow measurement on a shared machine does not put them after the end."""
        lengths = []
        for _ in range(runs):
            self._publish()
            child = self._spawn()
            self._go(child)
            started = time.monotonic()
            code = child.wait(timeout=120)
            lengths.append(time.monotonic() - started)
            if code != 0:
                raise RuntimeError(f"an uninterrupted import failed (exit {code}); see {self.log or 'its stderr'}")
        return min(lengths)

    def _recover(self, figures: Figures, when: str) -> list[str]:
        """Import the newest version in this process, at full speed; problems if it fails."""
        from django.core.management import call_command
        from django.core.management.base import CommandError
        from django.test import override_settings

        self.server.set_rate(0)
        out, err = StringIO(), StringIO()
        try:
            with override_settings(PXEIMPORT_GRACE_SECONDS=0):
                call_command("import_pxe_files", *self.argv, *ARGS, stdout=out, stderr=err)
        except CommandError as exc:
            return [f"the run after the kill failed (exit {exc.returncode}): {exc}; {err.getvalue()[-500:]}"]
        finally:
            self.server.set_rate(self.rate)
        marked = re.search(r"Marked (\d+) interrupted", out.getvalue())
        figures.abandoned += int(marked.group(1)) if marked else 0
        return []

    # What nodes would boot ---------------------------------------------------------------------

    def _base(self) -> Path:
        return self.root / "maas" / ARCH / "base"

    def _check_after_kill(self) -> list[str]:
        problems = []
        recent = self.versions[-2:]
        base = self._base()
        for release in RELEASES:
            try:
                pair = tuple((base / release / "install" / name).read_bytes() for name in ("linux", "initrd.gz"))
            except OSError as exc:
                problems.append(f"{release}: the stable path serves nothing ({exc})")
                continue
            if pair not in [(v[release]["linux"], v[release]["initrd.gz"]) for v in recent]:
                problems.append(f"{release}: the stable path serves a mixed or partial kernel and initrd")
        for name, published in (("pxelinux.0", "pxelinux.0"), ("ldlinux.c32", "boot-screens/ldlinux.c32")):
            try:
                served = (base / name).read_bytes()
            except OSError as exc:
                problems.append(f"{name}: the stable path serves nothing ({exc})")
                continue
            if served not in [v["bookworm"][published] for v in recent]:
                problems.append(f"{name}: serves bytes of neither of the last two versions")
        problems += [f"{d.relative_to(self.root)}: {why}" for d, why in self._broken(self._live_dirs())]
        problems += self._menu_problems()
        problems += self._lock_problems()
        return problems

    def _check_after_recovery(self, figures: Figures) -> list[str]:
        from pxeimport.models import ImportRun, RunStatus

        problems = []
        newest = self.versions[-1]
        base = self._base()
        for release in RELEASES:
            for name in ("linux", "initrd.gz"):
                if (base / release / "install" / name).read_bytes() != newest[release][name]:
                    problems.append(f"after the next run, {release}/install/{name} is not the newest")
        if (base / "pxelinux.0").read_bytes() != newest["bookworm"]["pxelinux.0"]:
            problems.append("after the next run, pxelinux.0 is not the newest")
        staging = self.root / "maas" / ".staging"
        if staging.exists() and any(staging.iterdir()):
            problems.append(f"after the next run, staging holds {sorted(p.name for p in staging.iterdir())}")
        figures.leftovers |= {
            str(p.relative_to(self.root)) for p in base.rglob("*") if ".new-" in p.name or p.name.endswith(".aside")
        }
        every = set(self._version_dirs())
        live = set(self._live_dirs())
        if every - live:
            problems.append(f"after the next run (grace 0), superseded version dirs remain: {sorted(every - live)}")
        problems += [f"{d.relative_to(self.root)}: {why}" for d, why in self._broken(every)]
        if ImportRun.objects.filter(tftproot=str(self.root), status=RunStatus.RUNNING).exists():
            problems.append("after the next run, a run is still marked running")
        return problems

    def _version_dirs(self) -> list[Path]:
        base = self._base()
        return sorted([*base.glob("_loader-*"), *base.glob("*/install-*")])

    def _live_dirs(self) -> list[Path]:
        """Version dirs a pointer or a boot menu names."""
        base = self._base()
        live = set()
        for pointer in [*(base / n for n in LOADER_FILES), *(base / r / "install" for r in RELEASES)]:
            if pointer.is_symlink():
                target = pointer.parent / os.readlink(pointer)
                live.add(target if pointer.name == "install" else target.parent)
        for path in self._menu_paths():
            live.add((base / path).parent)
        return sorted(live)

    @staticmethod
    def _broken(directories: Iterable[Path]) -> list[tuple[Path, str]]:
        from pxeimport.lib import sha256_file

        broken = []
        for directory in directories:
            manifest = directory / MANIFEST
            if not manifest.is_file():
                broken.append((directory, "no SHA256SUMS"))
                continue
            for line in manifest.read_text().splitlines():
                digest, _, name = line.partition("  ")
                path = directory / name
                if not path.is_file() or sha256_file(path) != digest:
                    broken.append((directory, f"{name} missing or not as SHA256SUMS says"))
        return broken

    def _menu_paths(self) -> list[str]:
        """The kernel and initrd paths (relative to base/) the BIOS boot menu names."""
        menu = self._base() / "pxelinux.cfg" / "default"
        if not menu.is_file():
            return []
        return re.findall(r"(?:KERNEL |initrd=)(\S+)", menu.read_text())

    def _menu_problems(self) -> list[str]:
        return [
            f"the boot menu names {path}, which is missing"
            for path in self._menu_paths()
            if not (self._base() / path).is_file()
        ]

    def _lock_problems(self) -> list[str]:
        from pxeimport.tftproot import LockHeld, TftpRoot

        root = TftpRoot(self.root)
        # A process the killed import was forking at that moment (gpgv, before its exec closes
        # the lock's descriptor) may hold the lock for a few milliseconds more: allow a second.
        deadline = time.monotonic() + 1.0
        while True:
            try:
                with root.lock():
                    return []
            except LockHeld as exc:
                if time.monotonic() > deadline:
                    openers = _openers(root.lock_path)
                    return [f"the lock is still held a second after the kill: {exc}; open by {openers}"]
            time.sleep(0.01)


def _openers(path: Path) -> list[str]:
    """Processes with `path` open (from /proc), as "pid command"."""
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.path.realpath(fd) == str(path) for fd in fd_dir.iterdir()):
                found.append(f"{fd_dir.parent.name} {(fd_dir.parent / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


# The child: an import that waits for "go" -----------------------------------------------------


def child(argv: list[str]) -> None:
    """Load Django and the command, say "ready", wait for "go", then run as manage.py would."""
    import django

    django.setup()
    from django.core.checks import run_checks
    from django.core.management import ManagementUtility

    import pxeimport.management.commands.import_pxe_files  # noqa: F401  (loaded before the clock starts)

    run_checks()  # manage.py runs the system checks first; their imports (admin, URLs) happen here

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() == "go":
        ManagementUtility(["manage.py", "import_pxe_files", *argv]).execute()


# The script -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("trials", type=int, help="how many kills")
    parser.add_argument("--seed", type=int, default=20121, help="for the kill moments (default 20121)")
    parser.add_argument("--database-url", help="default: a new SQLite database in a temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory, and say where")
    options = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="pxeimport-kill-trials-"))
    database_url = options.database_url or f"sqlite:///{work / 'db.sqlite3'}"
    os.environ.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="settings", PXEIMPORT_GRACE_SECONDS="0")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    from tools.signing import ArchiveSigner

    signer = ArchiveSigner(work / "key")
    try:
        archive = ArchiveTree(work / "archive", signer=signer)
        with ArchiveServer(archive.root) as server:
            trials = KillTrials(
                archive, server, work / "tftpboot", signer.keyring, database_url, seed=options.seed, log=work / "log"
            )

            reported = [0]

            def progress(figures: Figures) -> None:
                if figures.trials % 25 == 0 or len(figures.failures) > reported[0]:
                    reported[0] = len(figures.failures)
                    print(f"  {figures.summary()}", flush=True)

            figures = trials.run(options.trials, progress)
    finally:
        signer.close()
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(figures.summary())
    for failure in figures.failures:
        print(f"FAILED {failure}")
    for leftover in sorted(figures.leftovers):
        print(f"LEFT OVER {leftover}")
    if options.keep:
        print(f"kept {work} (imports' stderr in {work / 'log'})")
    return 1 if figures.failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        sys.exit(main())
