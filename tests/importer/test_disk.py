"""A full disk under the TFTP root, on a real small tmpfs: clean errors, nothing half-installed.

Each test mounts its own tmpfs (root only: elsewhere the tests skip, and under CI=true they fail,
since CI runs as root) and fills it in a different place: before a download whose size is known,
during one whose size is not, when the version dir is built, and in the inode table.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pxeimport.models import ImportRun, RunStatus
from tests.support.disk import mount_tmpfs
from tests.support.faulty import (
    ARGS,
    KERNEL,
    broken_versions,
    fast_http,
    publish_both,
    published_set,
    run_import,
    serving,
    staging_entries,
)
from tools.faultserver import FaultServer

pytestmark = pytest.mark.django_db

PAGE = 4096
# One download at a time, so which file meets the full disk is certain; the parallel case has its own test.
SERIAL = (*ARGS, "--jobs", "1")
BIG = 4 << 20  # a kernel that does not fit


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """mount(options) -> a fresh tmpfs (e.g. "size=2m,nr_inodes=200"), unmounted after the test."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"tmpfs{len(mounted)}"
        mount_tmpfs(where, options)
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def faults(archive) -> Iterator[FaultServer]:
    with FaultServer(archive.root) as server:
        yield server


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> None:
    """Write a filler file beside the TFTP tree so that exactly `leave` bytes stay free."""
    with open(path / "filler", "wb") as f:
        f.write(b"\0" * (free_bytes(path) - leave))
    assert free_bytes(path) == leave


def last_run() -> ImportRun:
    return ImportRun.objects.order_by("-started", "-pk")[0]


@pytest.fixture
def v1_installed(archive, faults, signer, settings, monkeypatch):
    """install(root) -> v1 of both releases, installed into `root`."""
    fast_http(settings)
    v1 = publish_both(archive, "v1")

    def install(root: Path) -> dict[str, dict[str, bytes]]:
        result = run_import(faults.url, root, signer.keyring)
        assert result.code == 0, result.stderr
        faults.clear()
        return v1

    return install


def assert_nothing_half_installed(root: Path, release_dir_versions: int = 1) -> None:
    assert staging_entries(root) == []
    assert broken_versions(root) == []
    release_dir = root / "maas" / "amd64" / "base" / "bookworm"
    assert len([p for p in release_dir.iterdir() if p.name.startswith("install-")]) == release_dir_versions
    assert [p.name for p in release_dir.iterdir() if ".new-" in p.name] == []


def test_a_disk_that_fills_mid_download_fails_that_item_cleanly(archive, faults, tmpfs, signer, v1_installed):
    root = tmpfs("size=2m")
    v1 = v1_installed(root)
    v2 = publish_both(archive, "v2")
    archive.publish("bookworm", "amd64", {**v2["bookworm"], "linux": b"k" * BIG})
    kernel = KERNEL.format(release="bookworm")
    faults.without_length("/" + kernel)  # the size is unknown until the body ends

    result = run_import(faults.url, root, signer.keyring, *SERIAL)

    assert result.code == 1
    assert f"amd64/bookworm install failed: {faults.url}{kernel}: not enough space in {root}" in result.stderr
    assert "the disk filled after" in result.stderr
    assert faults.count(kernel) == 1, "a full disk is not retried"
    assert serving(root, "bookworm") == published_set(v1["bookworm"], loader=v2["bookworm"])
    assert serving(root, "trixie") == published_set(v2["trixie"], loader=v2["bookworm"])
    assert_nothing_half_installed(root)
    run = last_run()
    assert run.status == RunStatus.FAILED and "not enough space" in run.error_summary


def test_with_parallel_downloads_a_disk_filling_up_leaves_every_served_set_complete(
    archive, faults, tmpfs, signer, v1_installed
):
    root = tmpfs("size=2m")
    v1 = v1_installed(root)
    v2 = publish_both(archive, "v2")
    for release in ("bookworm", "trixie"):
        archive.publish(release, "amd64", {**v2[release], "linux": b"k" * BIG})
        faults.without_length("/" + KERNEL.format(release=release))

    result = run_import(faults.url, root, signer.keyring, *ARGS, "--jobs", "4")

    assert result.code == 1
    assert "not enough space" in result.stderr
    for release in ("bookworm", "trixie"):  # whichever download met the full disk
        assert serving(root, release)["linux"] == v1[release]["linux"]
        assert serving(root, release)["initrd.gz"] == v1[release]["initrd.gz"]
    assert staging_entries(root) == []
    assert broken_versions(root) == []


def test_a_file_larger_than_the_free_space_is_refused_before_it_is_downloaded(
    archive, faults, tmpfs, signer, v1_installed
):
    root = tmpfs("size=2m")
    v1 = v1_installed(root)
    v2 = publish_both(archive, "v2")
    archive.publish("bookworm", "amd64", {**v2["bookworm"], "linux": b"k" * BIG})
    kernel = KERNEL.format(release="bookworm")

    result = run_import(faults.url, root, signer.keyring, *SERIAL)

    assert result.code == 1
    assert f"{faults.url}{kernel}: not enough space in {root}" in result.stderr
    assert f"the file is {BIG} bytes" in result.stderr
    assert faults.count(kernel) == 1
    assert last_run().bytes_downloaded < 64 * 1024, "the kernel's body was read though it could not fit"
    assert serving(root, "bookworm") == published_set(v1["bookworm"], loader=v2["bookworm"])
    assert serving(root, "trixie") == published_set(v2["trixie"], loader=v2["bookworm"])
    assert_nothing_half_installed(root)


def test_a_disk_full_when_the_version_dir_is_built_leaves_the_old_set_serving(
    archive, faults, tmpfs, signer, v1_installed
):
    root = tmpfs("size=2m")
    v1 = v1_installed(root)
    # Only bookworm's kernel and initrd change; both downloads fit exactly, its SHA256SUMS does not.
    files = {**v1["bookworm"], "linux": b"K" * 8 * PAGE, "initrd.gz": b"I" * 8 * PAGE}
    archive.publish("bookworm", "amd64", files)
    # The two downloads, and the page the run's lock file takes while it holds the lock.
    fill(root, 17 * PAGE)

    result = run_import(faults.url, root, signer.keyring, *SERIAL)

    assert result.code == 1
    assert "amd64/bookworm install failed" in result.stderr
    assert "No space left on device" in result.stderr
    assert faults.count("*/bookworm/*/amd64/initrd.gz") == 1, "the download itself succeeded"
    assert serving(root, "bookworm") == published_set(v1["bookworm"])
    assert_nothing_half_installed(root)
    assert free_bytes(root) == 17 * PAGE, "the failed downloads were not removed"


def test_a_tftp_root_out_of_inodes_fails_each_changed_item_cleanly(archive, faults, tmpfs, signer, v1_installed):
    root = tmpfs("size=8m,nr_inodes=400")
    v1 = v1_installed(root)
    publish_both(archive, "v2")
    spare = root / "spare-inodes"
    spare.mkdir()
    for n in range(400):
        try:
            (spare / str(n)).touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break

    result = run_import(faults.url, root, signer.keyring)

    assert result.code == 1
    assert result.stderr.count("No space left on device") == 3
    for release in ("bookworm", "trixie"):
        assert serving(root, release) == published_set(v1[release], loader=v1["bookworm"])
    assert_nothing_half_installed(root)


def test_a_tftp_root_where_nothing_can_be_created_is_a_usage_error(
    archive, faults, tmpfs, signer, settings, monkeypatch
):
    fast_http(settings)
    publish_both(archive, "v1")
    root = tmpfs("size=1m,nr_inodes=2")  # the root dir and one more
    (root / "filler").touch()

    result = run_import(faults.url, root, signer.keyring, *ARGS)

    assert result.code == 2
    full = "its filesystem is full (No space left on device): free space there, then run again"
    assert f"cannot use TFTP root {root}: {root}/maas: {full}" in result.stderr
