"""One run's downloads: one verified download per distinct file (by SHA-256), shared by every item
that wants it, at most `jobs` at once, into the run's staging dir, resumable across runs.

The staging dir (`maas/.staging/fetch-*`, 0700: tftpd never serves a partial file) is made on first
use, so a full disk fails the items that need it, not the run, and is removed when the run ends.
Files from `FetchSettings.resume_min_bytes` on download through `maas/.partial/` (pxeimport.fetching.resume):
one cut off continues on the next run.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pxeimport.fetching import Fetcher, NoSpace, remove_stale
from pxeimport.layouts import RemoteFile
from pxeimport.lib import free_bytes
from pxeimport.tftproot import TftpRoot

log = logging.getLogger(__name__)

# Below the root's maas/: downloads cut off, continued by the next run (pxeimport.fetching.resume).
PARTIAL_DIR = ".partial"
# A partial no run has continued for this long is given up.
PARTIAL_MAX_AGE_SECONDS = 7 * 24 * 3600.0
# A progress callback: (label, bytes so far, total or None), called from download threads.
Progress = Callable[[str, int, int | None], None]


class Downloads:
    def __init__(self, root: TftpRoot, fetcher: Fetcher, jobs: int, progress: Progress | None = None) -> None:
        self.root = root
        self.fetcher = fetcher
        self.jobs = jobs
        self.progress = progress
        self.partial_dir = root.maas / PARTIAL_DIR
        # The hashes of every download this run wanted: partials of other files are stale.
        self.wanted_hashes: set[str] = set()
        self._futures: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._staging: Path | None = None

    def open(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pxeimport-fetch")
        self._staging = None

    def close(self) -> None:
        """Wait for (or cancel) what is queued, then remove this run's staging dir."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)

    def staging_dir(self) -> Path:
        """This run's staging dir, made on first use."""
        with self._lock:
            if self._staging is None:
                self._staging = self.root.new_staging_dir()
            return self._staging

    def scratch_dir(self, prefix: str) -> Path:
        """A fresh directory in this run's staging for files an item makes (unpacked, generated)."""
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.staging_dir()))

    def get(self, remote: RemoteFile, label: str, free: int = 0) -> Future[Path]:
        """The verified download of `remote` (its path in staging), started once per run.

        `free`: bytes the staging filesystem must have free before the download starts (NoSpace
        now if not). A failed download raises from the future's result().
        """
        assert self._pool is not None, "open() first"
        staging = self.staging_dir()
        progress = self.progress
        partial_dir = self.partial_dir
        available = free_bytes(staging) if free else None
        if available is not None and available < free:
            raise NoSpace(
                remote.url,
                f"needs about {free >> 20} MiB free in {staging} before downloading, {available >> 20} MiB are free",
            )

        def fetch() -> Path:
            report = None
            if progress is not None:

                def report(done: int, total: int | None) -> None:
                    progress(label, done, total)

            dest = staging / remote.sha256
            return self.fetcher.download(remote.url, dest, remote.sha256, report, partial_dir=partial_dir).path

        with self._lock:
            self.wanted_hashes.add(remote.sha256)
            if remote.sha256 not in self._futures:
                self._futures[remote.sha256] = self._pool.submit(fetch)
            return self._futures[remote.sha256]

    def clean_partials(self, wanted: set[str] | None, *, dry: bool = False) -> list[Path]:
        """Drop partial downloads of files no item wants (`wanted`: hashes; None: judge by age only);
        return them (`dry`: those it would drop, dropping nothing)."""
        return remove_stale(self.partial_dir, wanted=wanted, max_age_seconds=PARTIAL_MAX_AGE_SECONDS, dry=dry)
