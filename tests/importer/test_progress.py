"""The progress display: bars on a terminal (a real pseudo-terminal), none for cron or a pipe."""

from __future__ import annotations

import os
import pty
import select
import subprocess

import pytest

from tests.support.subprocess_db import manage
from tools.archive import netboot_files
from tools.httpserver import ArchiveServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_on(stdout: int | None, archive_url: str, tftp_root, keyring) -> tuple[int, str]:
    args = ["import_pxe_files", "--archive", archive_url, "--tftproot", str(tftp_root), "--keyring", str(keyring)]
    args += ["--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm"]
    if stdout is None:
        done = manage(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = done.communicate(timeout=60)
        return done.returncode, out.decode(errors="replace")
    process = manage(*args, stdout=stdout, stderr=stdout, env_extra={"COLUMNS": "120", "TERM": "xterm"})
    return process.wait(timeout=60), ""


def test_a_terminal_gets_progress_bars_and_a_pipe_does_not(archive, tftp_root, signer, tmp_path):
    archive.publish("bookworm", "amd64", netboot_files("v1", size=3 * 1024 * 1024))
    with ArchiveServer(archive.root, rate_bytes_per_second=8 * 1024 * 1024) as server:
        url = server.url + "dists/"
        main, secondary = pty.openpty()
        try:
            code, _ = run_on(secondary, url, tftp_root, signer.keyring)
            os.close(secondary)
            screen = b""
            while select.select([main], [], [], 0.5)[0]:
                try:
                    chunk = os.read(main, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
        finally:
            os.close(main)
        text = screen.decode(errors="replace")
        assert code == 0, text
        assert "amd64/bookworm linux" in text
        assert "all files" in text
        assert "MB/s" in text or "kB/s" in text

        archive.publish("bookworm", "amd64", netboot_files("v2", size=3 * 1024 * 1024))
        code, piped = run_on(None, url, tftp_root, signer.keyring)
    assert code == 0, piped
    assert "all files" not in piped
    assert "installed" in piped
