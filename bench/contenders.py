"""The command lines compared: the 2012 script, plain curl (one after another, all at once), and pxeimport."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.archive import Archive, Wanted
from bench.measure import Job

PROJECT = Path(__file__).resolve().parent.parent
OLD_SCRIPT = PROJECT.parent / "shared" / "seed" / "maas-import-pxe-files"
CURL = ("curl", "--silent", "--show-error", "--fail", "--remote-time")


def old_script_job(script: Path, archive_url: str, tftproot: Path, archive: Archive, scratch: Path) -> Job:
    """The 2012 script as its README says to run it (curl downloads), from where it is, never copied."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "ARCHIVE": archive_url.rstrip("/"),
        "TFTPROOT": str(tftproot),
        "ARCHES": " ".join(archive.arches),
        "RELEASES": " ".join(archive.releases),
        "CURRENT_RELEASE": archive.current_release,
        "DOWNLOAD": "curl -O --silent --fail",
        "TMPDIR": str(scratch),
    }
    return Job(((str(script),),), env=env, cwd=scratch)


def curl_command(url: str, dest: Path, *, conditional: bool = False) -> tuple[str, ...]:
    """curl one URL into `dest`; `conditional` asks If-Modified-Since `dest`'s mtime (the server's, by -R)."""
    condition = ("--time-cond", str(dest)) if conditional else ()
    return (*CURL, *condition, "--output", str(dest), url)


def curl_jobs(
    base_url: str, files: tuple[Wanted, ...], dest: Path, *, parallel: bool, conditional: bool = False
) -> list[Job]:
    """One curl per file: all in one job (at once), or one job each (one after the other)."""
    dest.mkdir(parents=True, exist_ok=True)
    commands = tuple(curl_command(base_url + f.path, dest / f.local_name, conditional=conditional) for f in files)
    if parallel:
        return [Job(commands)]
    return [Job((command,)) for command in commands]


def curl_budget_job(base_url: str, files: tuple[Wanted, ...], dest: Path, connections: int) -> Job:
    """One curl per file, `connections` at a time (`xargs -P`): the importer's budget, spent by curl."""
    dest.mkdir(parents=True, exist_ok=True)
    listing = dest / ".curl-list"
    listing.write_text("".join(f"{dest / f.local_name} {base_url + f.path}\n" for f in files))
    return Job((("xargs", "-a", str(listing), "-P", str(connections), "-n", "2", *CURL, "--output"),))


def aria2_job(url: str, dest: Path, connections: int) -> Job:
    """aria2c, the segmented downloader: `connections` connections to the host, split as many ways."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    split = (f"--max-connection-per-server={connections}", f"--split={connections}")
    options = ("--quiet=true", "--allow-overwrite=true", "--auto-file-renaming=false")
    return Job((("aria2c", *split, *options, "--dir", str(dest.parent), "--out", dest.name, url),))


def sync_job(path: Path) -> Job:
    """fsync one file (coreutils `sync FILE`)."""
    return Job((("sync", str(path)),))


def hash_job(path: Path) -> Job:
    """SHA-256 of one file with hashlib, the importer's hash, and nothing else."""
    code = "import hashlib, sys\nwith open(sys.argv[1], 'rb') as f:\n    hashlib.file_digest(f, 'sha256')"
    return Job(((sys.executable, "-c", code, str(path)),))


@dataclass(frozen=True)
class Pxeimport:
    """How to run the project's command against a throwaway SQLite database."""

    label: str
    checkout: Path
    described: str
    database: Path
    keyring: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.database}",
            "SECRET_KEY": "pxeimport-bench-throwaway",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def manage(self, *args: str) -> Job:
        command = (sys.executable, str(self.checkout / "manage.py"), *args)
        return Job((command,), env=self.env, cwd=self.checkout)

    def migrate(self) -> Job:
        return self.manage("migrate", "-v0")

    def startup(self) -> Job:
        """Interpreter and Django start-up only: the floor under any run of the command."""
        return self.manage("help", "import_pxe_files")

    def import_job(self, archive_url: str, tftproot: Path, archive: Archive) -> Job:
        arches = [option for arch in archive.arches for option in ("--arch", arch)]
        releases = [option for release in archive.releases for option in ("--release", release)]
        return self.manage(
            "import_pxe_files",
            *("--archive", archive_url, "--tftproot", str(tftproot), "--keyring", str(self.keyring)),
            *arches,
            *releases,
            *("--current-release", archive.current_release, "-v0"),
        )
