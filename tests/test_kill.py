"""kill -9 at any moment leaves the stable paths serving a complete set; the next run recovers."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from pxeimport.models import ImportRun, RunStatus
from tests.subprocess_db import manage
from tests.tree import base, install_dir
from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRIALS = 8
ARGS = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "bookworm")
RELEASES = ("bookworm", "trixie")


def serving(tftp_root: Path, release: str) -> tuple[bytes, bytes]:
    """What a TFTP client gets for the kernel and initrd through the stable path."""
    directory = install_dir(tftp_root, "amd64", release)
    return (directory / "linux").read_bytes(), (directory / "initrd.gz").read_bytes()


def publish_all(archive: ArchiveTree, tag: str) -> dict[str, dict[str, bytes]]:
    published = {}
    for release in RELEASES:
        files = netboot_files(f"{tag}-{release}", size=256 * 1024)
        archive.publish(release, "amd64", files)
        published[release] = files
    return published


def test_a_run_killed_at_random_moments_never_breaks_the_stable_paths(archive, tftp_root, signer):
    rng = random.Random(20121)
    args = (*ARGS, "--keyring", str(signer.keyring))
    with ArchiveServer(archive.root, rate_bytes_per_second=2 * 1024 * 1024) as server:
        url = server.url + "dists/"
        versions = [publish_all(archive, "v0")]
        call_command("import_pxe_files", "--archive", url, "--tftproot", str(tftp_root), *args, verbosity=0)

        started = time.monotonic()
        versions.append(publish_all(archive, "v1"))
        done = manage("import_pxe_files", "--archive", url, "--tftproot", str(tftp_root), *args, "-v0")
        assert done.wait(timeout=60) == 0
        full_run = time.monotonic() - started

        killed_mid_run = 0
        for trial in range(TRIALS):
            versions.append(publish_all(archive, f"v{trial + 2}"))
            process = manage(
                "import_pxe_files",
                "--archive",
                url,
                "--tftproot",
                str(tftp_root),
                *args,
                "-v0",
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.1, full_run * 1.1))
            if process.poll() is None:
                killed_mid_run += 1
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

            for release in RELEASES:
                kernel, initrd = serving(tftp_root, release)
                pairs = [(v[release]["linux"], v[release]["initrd.gz"]) for v in versions[-2:]]
                assert (kernel, initrd) in pairs, f"trial {trial}: {release} serves a mixed or partial set"
            assert (base(tftp_root, "amd64") / "pxelinux.0").read_bytes() in [
                v["bookworm"]["pxelinux.0"] for v in versions[-2:]
            ]

            out = StringIO()
            call_command("import_pxe_files", "--archive", url, "--tftproot", str(tftp_root), *args, stdout=out)
            for release in RELEASES:
                newest = versions[-1][release]
                assert serving(tftp_root, release) == (newest["linux"], newest["initrd.gz"])
            assert list((tftp_root / "maas" / ".staging").iterdir()) == []

    assert killed_mid_run >= TRIALS // 2, "the kills should mostly land while the import runs"
    assert not ImportRun.objects.filter(status=RunStatus.RUNNING).exists()
    # A kill during start-up, before the run's row exists, leaves no row to abandon.
    assert 1 <= ImportRun.objects.filter(status=RunStatus.ABANDONED).count() <= killed_mid_run
