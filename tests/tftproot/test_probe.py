"""A TFTP root that cannot work, or that tftpd cannot read: probed before any download, opened up after each run.

Real filesystems and users where this machine allows: an exFAT image (FUSE, on a loop device),
fs.protected_hardlinks against an unprivileged second import, tftpd-hpa --secure as nobody.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pxeimport.lib.files import CopyMismatch, link_or_copy
from pxeimport.tftproot import RootUnusable, TftpRoot, open_up, probe
from tests.support.requirements import require_tool, skip_or_fail
from tests.support.tftp import TftpServer
from tests.support.users import NOBODY, as_nobody
from tools.archive import netboot_files

BASE = "maas/amd64/base"
ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def need_root(why: str) -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"{why} needs root")


def reused_by_link_refusal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every os.link fail as on a filesystem without hard links; return the calls."""
    calls: list[str] = []

    def refuse(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(str(target))
        raise OSError(errno.EPERM, "Operation not permitted", str(source))

    monkeypatch.setattr(os, "link", refuse)
    return calls


# The probe ------------------------------------------------------------------------------------


def test_the_probe_finds_what_a_local_filesystem_allows_and_leaves_nothing_behind(tmp_path):
    root = TftpRoot(tmp_path / "tftpboot")
    capabilities = probe(root)
    assert capabilities.hard_links and root.hard_links
    assert capabilities.filesystem != "unknown"
    assert list(root.staging.iterdir()) == []


def test_the_probe_notices_a_filesystem_without_hard_links(tmp_path, monkeypatch):
    calls = reused_by_link_refusal(monkeypatch)
    root = TftpRoot(tmp_path / "tftpboot")
    assert probe(root).hard_links is False
    assert root.hard_links is False and len(calls) == 1


def test_a_disk_too_full_to_probe_is_no_verdict_on_the_filesystem(tmp_path, monkeypatch):
    def no_space(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "symlink", no_space)
    root = TftpRoot(tmp_path / "tftpboot")
    capabilities = probe(root)
    assert capabilities.probed is False and root.hard_links is True
    assert list(root.staging.iterdir()) == []


def test_a_refused_link_becomes_a_copy_with_the_same_bytes(tmp_path, monkeypatch):
    source = tmp_path / "kernel"
    source.write_bytes(b"kernel bytes")
    os.chmod(source, 0o600)
    reused_by_link_refusal(monkeypatch)

    copied = link_or_copy(source, tmp_path / "copy", hashlib.sha256(b"kernel bytes").hexdigest())

    assert copied is True
    assert (tmp_path / "copy").read_bytes() == b"kernel bytes"
    assert os.stat(tmp_path / "copy").st_ino != os.stat(source).st_ino
    assert stat.S_IMODE(os.stat(tmp_path / "copy").st_mode) == 0o644


def test_a_damaged_file_is_never_copied_into_a_new_version(tmp_path):
    source = tmp_path / "kernel"
    source.write_bytes(b"truncated")
    with pytest.raises(CopyMismatch, match="no longer has the SHA-256"):
        link_or_copy(source, tmp_path / "copy", hashlib.sha256(b"the whole kernel").hexdigest(), hard_links=False)
    assert not (tmp_path / "copy").exists()


@pytest.mark.django_db(transaction=True)
def test_a_root_without_hard_links_still_imports_by_copying_each_file(archive, import_pxe, tftp_root, monkeypatch):
    """Injected: os.link refused as exFAT, vfat and some FUSE filesystems refuse it (EPERM)."""
    v1 = netboot_files("v1")
    archive.publish("bookworm", "amd64", v1)
    calls = reused_by_link_refusal(monkeypatch)
    assert import_pxe(*ARGS).code == 0
    v2 = {**v1, "initrd.gz": netboot_files("v2")["initrd.gz"]}
    archive.publish("bookworm", "amd64", v2)

    result = import_pxe(*ARGS, verbosity=2)

    assert result.code == 0, result.stderr
    assert "amd64/bookworm install: installed" in result.stdout
    served = tftp_root / BASE / "bookworm" / "install"
    assert (served / "linux").read_bytes() == v1["linux"]
    assert (served / "initrd.gz").read_bytes() == v2["initrd.gz"]
    # Every file of every version is a copy of its own (one name per inode): nothing was linked.
    for path in (tftp_root / BASE).rglob("*"):
        if path.is_file() and not path.is_symlink() and "install-" in str(path):
            assert path.stat().st_nlink == 1, path
    assert len(calls) == 2  # one probe per run; the installs did not try again


@pytest.fixture
def exfat_root(tftp_root: Path, tmp_path: Path) -> Iterator[Path]:
    """`tftp_root` on a real exFAT filesystem: an image on a loop device, mounted with exfat-fuse."""
    need_root("mounting a loop device")
    tools = {name: require_tool(name) for name in ("mkfs.exfat", "mount.exfat-fuse", "losetup", "umount")}
    if not os.path.exists("/dev/fuse"):
        skip_or_fail("/dev/fuse is missing: FUSE is not available here")
    image = tmp_path / "exfat.img"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run([tools["mkfs.exfat"], str(image)], check=True, capture_output=True)
    attach = subprocess.run([tools["losetup"], "--find", "--show", str(image)], capture_output=True, text=True)
    if attach.returncode != 0:
        skip_or_fail(f"no loop device: {attach.stderr.strip()}")
    device = attach.stdout.strip()
    tftp_root.mkdir()
    try:
        subprocess.run([tools["mount.exfat-fuse"], device, str(tftp_root)], check=True, capture_output=True)
        try:
            yield tftp_root
        finally:
            subprocess.run([tools["umount"], str(tftp_root)], check=True)
    finally:
        subprocess.run([tools["losetup"], "--detach", device], check=True)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_exfat_root_is_refused_before_any_download_with_exit_2(archive, archive_server, import_pxe, exfat_root):
    archive.publish("bookworm", "amd64", netboot_files("v1"))

    result = import_pxe(*ARGS)

    assert result.code == 2
    assert f"cannot use TFTP root {exfat_root}" in result.stderr
    assert "cannot hold symbolic links" in result.stderr
    assert "nothing was downloaded" in result.stderr
    assert archive_server.requests == []  # not even the index


# Another user's files (fs.protected_hardlinks) ----------------------------------------------


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A home, outside root's private dirs (gpgv drops every capability), and a migrated database,
    for imports run as nobody."""
    need_root("running an import as another user")
    home = Path(tempfile.mkdtemp(prefix="pxeimport-nobody-"))
    try:
        os.chown(home, NOBODY, NOBODY)
        migrated = as_nobody(sys.executable, "manage.py", "migrate", "-v0", home=home)
        assert migrated.returncode == 0, migrated.stderr
        yield home
    finally:
        shutil.rmtree(home)


def import_as_nobody(home: Path, archive_url: str, keyring: Path, tftp_root: Path) -> subprocess.CompletedProcess[str]:
    own = home / keyring.name
    own.write_bytes(keyring.read_bytes())
    os.chown(own, NOBODY, NOBODY)
    argv = ["--archive", archive_url + "dists/", "--keyring", str(own), "--tftproot", str(tftp_root), *ARGS]
    return as_nobody(sys.executable, "manage.py", "import_pxe_files", *argv, home=home)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_unprivileged_import_reuses_files_root_installed_by_copying_them(
    archive, archive_server, import_pxe, signer, tftp_root, nobody_home
):
    if Path("/proc/sys/fs/protected_hardlinks").read_text().strip() != "1":
        skip_or_fail("fs.protected_hardlinks is not 1 here")
    tftp_root.mkdir()
    os.chown(tftp_root, NOBODY, NOBODY)
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    first = import_as_nobody(nobody_home, archive_server.url, signer.keyring, tftp_root)
    assert first.returncode == 0, first.stderr
    # A one-off import as root: the new version's files are root's.
    v2 = netboot_files("v2")
    archive.publish("bookworm", "amd64", v2)
    assert import_pxe(*ARGS).code == 0
    by_root = (tftp_root / BASE / "bookworm" / "install").resolve() / "linux"
    assert by_root.stat().st_uid == 0
    v3 = {**v2, "initrd.gz": netboot_files("v3")["initrd.gz"]}
    archive.publish("bookworm", "amd64", v3)

    third = import_as_nobody(nobody_home, archive_server.url, signer.keyring, tftp_root)

    assert third.returncode == 0, third.stderr
    served = (tftp_root / BASE / "bookworm" / "install").resolve()
    assert served != by_root.parent
    assert (served / "linux").read_bytes() == v2["linux"]
    assert (served / "initrd.gz").read_bytes() == v3["initrd.gz"]
    assert (served / "linux").stat().st_uid == NOBODY  # nobody's own copy, not root's inode
    assert (served / "linux").stat().st_ino != by_root.stat().st_ino


# Modes tftpd needs ----------------------------------------------------------------------------


def test_open_up_gives_others_a_way_into_served_dirs_and_files_but_not_staging(tmp_path):
    root = TftpRoot(tmp_path / "tftpboot")
    served = root.ensure_dir(root.base_dir("amd64") / "bookworm" / "install-0123456789abcdef")
    (served / "linux").write_bytes(b"k")
    os.chmod(served / "linux", 0o600)
    root.staging_dir()
    for path in (root.path, root.maas, served):
        os.chmod(path, 0o700)

    changed = open_up(root)

    assert set(changed) == {root.path, root.maas, served, served / "linux"}
    assert stat.S_IMODE(os.stat(root.maas).st_mode) == 0o701
    assert stat.S_IMODE(os.stat(served / "linux").st_mode) == 0o604
    assert stat.S_IMODE(os.stat(root.staging).st_mode) == 0o700
    assert open_up(root) == []


def test_ensure_dir_opens_an_existing_narrow_directory_on_its_way(tmp_path):
    root = TftpRoot(tmp_path / "tftpboot")
    base = root.ensure_dir(root.base_dir("amd64"))
    os.chmod(root.maas, 0o700)
    root.ensure_dir(base / "bookworm")
    assert os.stat(root.maas).st_mode & stat.S_IXOTH


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_narrow_directories_are_opened_to_tftpd_on_a_run_with_nothing_to_install(archive, import_pxe, tftp_root):
    published = netboot_files("v1")
    archive.publish("bookworm", "amd64", published)
    assert import_pxe(*ARGS).code == 0
    kernel_dir = (tftp_root / BASE / "bookworm" / "install").resolve()
    # By hand, or an import under umask 077: the root, maas/ and a version dir 0700, a kernel 0600.
    for path in (tftp_root, tftp_root / "maas", kernel_dir):
        os.chmod(path, 0o700)
    os.chmod(kernel_dir / "linux", 0o600)

    with TftpServer(tftp_root) as tftp:
        with pytest.raises(subprocess.CalledProcessError):
            tftp.get(f"{BASE}/pxelinux.0")  # the fault: tftpd (as nobody) cannot get in
        result = import_pxe(*ARGS, verbosity=2)
        assert result.code == 0, result.stderr
        assert "unchanged" in result.stdout
        assert tftp.get(f"{BASE}/pxelinux.0") == published["pxelinux.0"]
        assert tftp.get(f"{BASE}/bookworm/install/linux") == published["linux"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_root_the_import_cannot_open_to_tftpd_is_exit_2_naming_it(
    archive, archive_server, signer, tmp_path, nobody_home
):
    # Shared with the import's group, not with tftpd's user; only its owner (root) may change that.
    tftp_root = tmp_path / "shared-root"
    tftp_root.mkdir()
    os.chown(tftp_root, 0, NOBODY)
    os.chmod(tftp_root, 0o770)
    archive.publish("bookworm", "amd64", netboot_files("v1"))

    result = import_as_nobody(nobody_home, archive_server.url, signer.keyring, tftp_root)

    assert result.returncode == 2, result.stderr
    named = rf"{re.escape(str(tftp_root))} is mode 0770, owned by uid 0: the TFTP server's user cannot enter it"
    assert re.search(named, result.stderr)
    assert f"chmod o+x {tftp_root}" in result.stderr
    assert archive_server.requests == []
    assert stat.S_IMODE(os.stat(tftp_root).st_mode) == 0o770


def test_open_up_names_a_path_it_may_not_change(tmp_path, monkeypatch):
    root = TftpRoot(tmp_path / "tftpboot")
    root.ensure_dir(root.maas)
    os.chmod(root.maas, 0o700)

    def read_only(path: Any, mode: int) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "chmod", read_only)
    with pytest.raises(RootUnusable, match=rf"{re.escape(str(root.maas))} is mode 0700.*Read-only file system"):
        open_up(root)
