"""Imports started together on one TFTP root, as real processes: one works, the others exit 75.

The winner is held mid-download (the server keeps its kernel request waiting) until every other
process has given up, so the race is decided by the lock alone, not by timing. The processes
share the test's database (SQLite, or PostgreSQL when DATABASE_URL points there: CI runs the suite
on both), so the rows each writes are checked on each.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxeimport.models import ImportRun, RunStatus
from pxeimport.tftproot import TftpRoot
from tests.support.faulty import ARGS, KERNEL, broken_versions, publish_both, published_set, serving, staging_entries
from tests.support.subprocess_db import manage
from tools.archive import ArchiveTree
from tools.faultserver import FaultServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KERNEL_PATH = "/" + KERNEL.format(release="bookworm")


@pytest.fixture
def server(archive: ArchiveTree) -> Iterator[FaultServer]:
    with FaultServer(archive.root) as fault_server:
        yield fault_server


def start_imports(count: int, url: str, tftp_root: Path, keyring: Path) -> list[subprocess.Popen[bytes]]:
    argv = ("import_pxe_files", "--archive", url + "dists/", "--tftproot", str(tftp_root), "--keyring", str(keyring))
    return [manage(*argv, *ARGS, "-v0", stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(count)]


def race(count: int, server: FaultServer, tftp_root: Path, keyring: Path) -> list[tuple[int, int, str]]:
    """Start `count` imports at once; hold the one that gets the lock until the rest have exited.

    On a TFTP root that does not exist yet, they also race to create it.

    Returns (pid, exit code, stderr) per process.
    """
    server.clear()
    server.hold(KERNEL_PATH)
    processes = start_imports(count, server.url, tftp_root, keyring)
    try:
        deadline = time.monotonic() + 60
        while sum(p.poll() is not None for p in processes) < count - 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.count(KERNEL_PATH) == 1, "exactly one import got as far as downloading"
    finally:
        server.release()
    errors = [p.communicate(timeout=60)[1].decode() for p in processes]
    return [(p.pid, p.returncode, stderr) for p, stderr in zip(processes, errors, strict=True)]


@pytest.mark.parametrize("count", [2, 4])
def test_imports_started_together_one_works_the_others_exit_75(archive, server, tftp_root, signer, count):
    published = publish_both(archive, "v1")

    outcomes = race(count, server, tftp_root, signer.keyring)

    assert sorted(code for _, code, _ in outcomes) == [0] + [75] * (count - 1), outcomes
    winner = next(pid for pid, code, _ in outcomes if code == 0)
    for _, code, stderr in outcomes:
        if code == 75:
            assert f"another import holds {tftp_root.absolute()}/maas/.lock (pid {winner} on " in stderr
            assert "nothing done, try again later" in stderr
    # Nothing corrupted: the winner's complete sets, and no debris.
    for release in ("bookworm", "trixie"):
        assert serving(tftp_root, release) == published_set(published[release], loader=published["bookworm"])
    assert broken_versions(tftp_root) == []
    assert staging_entries(tftp_root) == []
    statuses = sorted(ImportRun.objects.values_list("status", flat=True))
    assert statuses == sorted([RunStatus.SUCCEEDED] + [RunStatus.LOCKED] * (count - 1))
    for run in ImportRun.objects.filter(status=RunStatus.LOCKED):
        assert f"pid {winner} on " in run.error_summary


def test_rounds_of_racing_imports_each_end_on_their_own_version(archive, server, tftp_root, signer):
    for round_number in range(3):
        published = publish_both(archive, f"v{round_number}")
        outcomes = race(2, server, tftp_root, signer.keyring)
        assert sorted(code for _, code, _ in outcomes) == [0, 75], outcomes
        for release in ("bookworm", "trixie"):
            assert serving(tftp_root, release) == published_set(published[release], loader=published["bookworm"])
        assert broken_versions(tftp_root) == []
    assert ImportRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 3
    assert ImportRun.objects.filter(status=RunStatus.LOCKED).count() == 3
    assert not ImportRun.objects.filter(status=RunStatus.RUNNING).exists()


def test_making_the_root_tolerates_another_import_making_it_first(tmp_path, monkeypatch):
    root = TftpRoot(tmp_path / "tftpboot")
    exists = Path.exists

    def exists_then_made_by_the_other_import(path: Path, *args, **kwargs) -> bool:
        if path == root.path and not exists(path):
            path.mkdir()  # the other process wins the race right after this check
            return False
        return exists(path, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists_then_made_by_the_other_import)

    root.ensure_dir(root.maas)

    assert root.maas.is_dir()
