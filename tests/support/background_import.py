"""Helpers for tests of "Import now": a boot source on the loopback archive, and waiting for the run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import LazySettings

from pxeimport.models import BootSource, ImportRun, RunStatus
from tools.database import database_url
from tools.httpserver import ArchiveServer
from tools.signing import ArchiveSigner


def loopback_source(
    server: ArchiveServer,
    signer: ArchiveSigner,
    tftp_root: Path,
    var_dir: Path,
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> BootSource:
    """The only enabled source, on the loopback archive, with nothing selected; a background import
    started now uses this TFTP root, writes its log under `var_dir`, and shares this test's database."""
    BootSource.objects.update(enabled=False)  # the default Ubuntu source must not reach the internet
    settings.PXEIMPORT_TFTPROOT = tftp_root
    settings.VAR_DIR = var_dir
    monkeypatch.setenv("DATABASE_URL", database_url())
    return BootSource.objects.create(
        name="local",
        url=server.url + "dists/",
        distribution="debian",
        current_release="bookworm",
        keyring=str(signer.keyring),
    )


def wait_for_finished_run(timeout: float = 60) -> ImportRun:
    """The newest run once one is no longer running (the background import finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ImportRun.objects.exclude(status=RunStatus.RUNNING).first()
        if run is not None:
            return run
        time.sleep(0.2)
    raise AssertionError(f"no import run finished within {timeout} s")
