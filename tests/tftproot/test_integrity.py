"""Damaged installed files are noticed, never reused, and repaired (issue 12 item 5)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pxeimport.models import ImportRun, Install
from pxeimport.tftproot.integrity import MANIFEST, STAT_FILE, InstalledFile, check, read_manifest, record
from tests.support.faulty import broken_versions
from tests.support.tree import base, install_dir
from tools.archive import netboot_files

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def version_dir(tmp_path: Path, files: dict[str, bytes], *, recorded: bool = True) -> Path:
    directory = tmp_path / "install-0123456789abcdef"
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    (directory / MANIFEST).write_text(sums)
    if recorded:
        record(directory, files)
    return directory


def listed(directory: Path) -> dict[str, InstalledFile]:
    files = read_manifest(directory)
    assert files is not None
    return files


def damage_in_place(path: Path, data: bytes = b"X") -> None:
    """Change bytes without changing the size or the mtime: what only a hash can see."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# The check ---------------------------------------------------------------------------------------


def test_files_as_recorded_are_not_damaged(tmp_path):
    directory = version_dir(tmp_path, {"linux": b"kernel" * 100, "initrd.gz": b"initrd" * 100})
    assert check(listed(directory)) == []


def test_a_truncated_file_is_damage_naming_its_size_and_hashes(tmp_path):
    directory = version_dir(tmp_path, {"linux": b"kernel" * 100, "initrd.gz": b"initrd" * 100})
    os.truncate(directory / "linux", 10)

    [damage] = check(listed(directory))

    assert damage.name == "linux"
    assert "10 bytes" in damage.problem and f"lists {hashlib.sha256(b'kernel' * 100).hexdigest()}" in damage.problem


def test_a_file_overwritten_with_as_many_bytes_is_damage(tmp_path):
    directory = version_dir(tmp_path, {"ldlinux.c32": b"L" * 512})
    st = (directory / "ldlinux.c32").stat()
    (directory / "ldlinux.c32").write_bytes(b"M" * 512)
    os.utime(directory / "ldlinux.c32", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    assert [d.name for d in check(listed(directory))] == ["ldlinux.c32"]


def test_bytes_changed_in_place_with_the_mtime_put_back_are_seen_only_by_hashing(tmp_path):
    directory = version_dir(tmp_path, {"linux": b"kernel" * 100})
    damage_in_place(directory / "linux")

    assert check(listed(directory)) == []
    assert [d.name for d in check(listed(directory), deep=True)] == ["linux"]


def test_a_touched_but_intact_file_is_recorded_anew(tmp_path):
    directory = version_dir(tmp_path, {"linux": b"kernel" * 100})
    os.utime(directory / "linux", (1, 1))

    assert check(listed(directory)) == []

    assert json.loads((directory / STAT_FILE).read_text())["linux"][1] == 1_000_000_000


def test_a_version_dir_without_a_record_is_hashed_then_recorded(tmp_path):
    directory = version_dir(tmp_path, {"linux": b"kernel" * 100}, recorded=False)
    assert check(listed(directory), writable=False) == []
    assert not (directory / STAT_FILE).exists()

    assert check(listed(directory)) == []

    assert set(json.loads((directory / STAT_FILE).read_text())) == {"linux"}


def test_a_damaged_dir_gets_no_new_record(tmp_path):
    directory = version_dir(tmp_path, {"linux": b"kernel" * 100}, recorded=False)
    os.truncate(directory / "linux", 1)
    assert len(check(listed(directory))) == 1
    assert not (directory / STAT_FILE).exists()


def test_files_hashed_from_themselves_have_nothing_to_be_checked_against(tmp_path):
    path = tmp_path / "linux"
    path.write_bytes(b"old script's file")
    assert check({"linux": InstalledFile(path, "0" * 64, hashed=True)}, deep=True) == []


# End to end ---------------------------------------------------------------------------------------


def served(tftp_root: Path, name: str) -> Path:
    """The file in the live version dir that a stable path leads to."""
    where = install_dir(tftp_root, "amd64", "bookworm") if name in ("linux", "initrd.gz") else base(tftp_root, "amd64")
    return (where / name).resolve()


@pytest.mark.django_db
def test_a_truncated_kernel_is_repaired_by_the_next_run_and_the_repair_recorded(archive, import_pxe, tftp_root):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert import_pxe(*ARGS).code == 0
    os.truncate(served(tftp_root, "linux"), 100)

    result = import_pxe(*ARGS)

    assert result.code == 0, result.stderr
    assert "amd64/bookworm install: repaired:" in result.stderr and "100 bytes" in result.stderr
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == files["linux"]
    run = ImportRun.objects.order_by("-started").first()
    assert run is not None and "repaired" in run.error_summary and run.items_installed == 1
    assert Install.objects.filter(run=run, release="bookworm", kind="install").exists()
    assert import_pxe(*ARGS, verbosity=2).stdout.count("unchanged (") == 2


@pytest.mark.django_db
def test_an_overwritten_ldlinux_is_repaired(archive, import_pxe, tftp_root):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert import_pxe(*ARGS).code == 0
    served(tftp_root, "ldlinux.c32").write_bytes(b"not ldlinux")

    result = import_pxe(*ARGS)

    assert result.code == 0, result.stderr
    assert "amd64 pre-boot loader (from bookworm): repaired:" in result.stderr
    assert (base(tftp_root, "amd64") / "ldlinux.c32").read_bytes() == files["boot-screens/ldlinux.c32"]


@pytest.mark.django_db
def test_a_damaged_file_is_never_linked_into_the_next_version(archive, archive_server, import_pxe, tftp_root):
    first = netboot_files("v1")
    archive.publish("bookworm", "amd64", first)
    assert import_pxe(*ARGS).code == 0
    damage_in_place(served(tftp_root, "ldlinux.c32"))  # invisible to the cheap check
    second = dict(first, **{"pxelinux.0": b"only pxelinux.0 changed upstream"})
    archive.publish("bookworm", "amd64", second)
    archive_server.clear_requests()

    assert import_pxe(*ARGS).code == 0

    assert (base(tftp_root, "amd64") / "ldlinux.c32").read_bytes() == first["boot-screens/ldlinux.c32"]
    assert any(r.path.endswith("/ldlinux.c32") for r in archive_server.requests)  # fetched again, not reused
    live = served(tftp_root, "ldlinux.c32").parent
    assert [b for b in broken_versions(tftp_root) if b.path == live] == []


@pytest.mark.django_db
def test_verify_hashes_every_served_file_repairs_and_exits_1(archive, import_pxe, tftp_root):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert import_pxe(*ARGS).code == 0
    damage_in_place(served(tftp_root, "initrd.gz"))
    assert "0 installed, 2 unchanged" in import_pxe(*ARGS).stdout  # what a stat cannot see

    dry = import_pxe(*ARGS, "--verify", "--dry-run")
    assert dry.code == 1 and "damaged, a real run repairs it" in dry.stderr
    assert served(tftp_root, "initrd.gz").read_bytes() != files["initrd.gz"]

    result = import_pxe(*ARGS, "--verify")

    assert result.code == 1
    assert "amd64/bookworm install: repaired:" in result.stderr and "initrd.gz" in result.stderr
    assert "--verify: 1 item(s) served damaged files, found and repaired" in result.stderr
    assert (install_dir(tftp_root, "amd64", "bookworm") / "initrd.gz").read_bytes() == files["initrd.gz"]
    assert import_pxe(*ARGS, "--verify").code == 0
