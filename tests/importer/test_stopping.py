"""SIGTERM and SIGINT end a run within seconds, cleanly: root consistent, lock free, run cancelled."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from pxeimport.models import ImportRun, RunStatus
from pxeimport.tftproot import TftpRoot
from tests.support.subprocess_db import manage
from tests.support.tree import install_dir
from tools.archive import netboot_files
from tools.httpserver import ArchiveServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_mid_download_cancels_the_run_cleanly(archive, tftp_root, signer, signum, code):
    archive.publish("bookworm", "amd64", netboot_files("v1", size=8 * 1024 * 1024))
    # 1 MiB/s: the 8 MiB kernel alone takes seconds, so the signal lands mid-download.
    with ArchiveServer(archive.root, rate_bytes_per_second=1024 * 1024) as server:
        process = manage(
            "import_pxe_files",
            "--archive",
            server.url + "dists/",
            "--tftproot",
            str(tftp_root),
            "--keyring",
            str(signer.keyring),
            "--arch",
            "amd64",
            "--release",
            "bookworm",
            "--current-release",
            "bookworm",
            "-v0",
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not any(r.path.endswith("SHA256SUMS") for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert process.poll() is None, "the import finished before it could be stopped"
        stopped_at = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        took = time.monotonic() - stopped_at

    assert process.returncode == code, stderr.decode()
    assert took < 5, f"took {took:.1f} s to stop"
    assert "cancelled" in stderr.decode()
    assert list((tftp_root / "maas" / ".staging").iterdir()) == []
    assert not install_dir(tftp_root, "amd64", "bookworm").exists()
    with TftpRoot(tftp_root).lock():  # free again
        pass
    run = ImportRun.objects.get()
    assert run.status == RunStatus.CANCELLED
    assert signal.Signals(signum).name in run.error_summary
