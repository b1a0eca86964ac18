"""Reading the kernel and initrd out of a live-server ISO built by xorriso, and refusing what must not be read."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from pxeimport.extraction.iso import IsoImageError, Member, extract, list_members
from tests.support.requirements import require_tool
from tools.iso import live_server_members, make_iso

KERNEL = os.urandom(300_000)
INITRD = os.urandom(1_200_000)
HWE_KERNEL = os.urandom(200_000)
HWE_INITRD = os.urandom(900_000)
WANTED = {"linux": "casper/vmlinuz", "initrd.gz": "casper/initrd"}
LIMIT = 10 << 20


@pytest.fixture(autouse=True)
def xorriso() -> None:
    require_tool("xorriso")


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "staging"
    path.mkdir()
    return path


def iso(tmp_path: Path, name: str = "live.iso", **options) -> Path:
    hwe = options.pop("hwe", None)
    return make_iso(tmp_path / name, live_server_members(KERNEL, INITRD, hwe), **options)


def test_extract_writes_each_member_new_with_its_size_and_hash(tmp_path, dest):
    found = extract(iso(tmp_path), WANTED, dest, max_bytes=LIMIT)
    assert set(found) == {"linux", "initrd.gz"}
    for name, content in (("linux", KERNEL), ("initrd.gz", INITRD)):
        assert (dest / name).read_bytes() == content
        assert found[name].path == dest / name
        assert found[name].size == len(content)
        assert found[name].sha256 == hashlib.sha256(content).hexdigest()
        assert (dest / name).stat().st_mode & 0o777 == 0o644


def test_list_members_shows_the_hwe_pair_when_the_iso_has_it(tmp_path, dest):
    path = iso(tmp_path, hwe=(HWE_KERNEL, HWE_INITRD))
    members = list_members(path, "casper")
    assert members == {
        "hwe-initrd": Member("hwe-initrd", "file", len(HWE_INITRD)),
        "hwe-vmlinuz": Member("hwe-vmlinuz", "file", len(HWE_KERNEL)),
        "initrd": Member("initrd", "file", len(INITRD)),
        "vmlinuz": Member("vmlinuz", "file", len(KERNEL)),
    }
    hwe = {"hwe-linux": "casper/hwe-vmlinuz", "hwe-initrd.gz": "casper/hwe-initrd"}
    found = extract(path, hwe, dest, max_bytes=LIMIT)
    assert (dest / "hwe-linux").read_bytes() == HWE_KERNEL
    assert found["hwe-initrd.gz"].sha256 == hashlib.sha256(HWE_INITRD).hexdigest()


def test_list_members_lacks_the_hwe_pair_when_the_iso_has_none(tmp_path):
    assert sorted(list_members(iso(tmp_path), "/casper/")) == ["initrd", "vmlinuz"]
    assert list_members(iso(tmp_path, "b.iso"), "")[".disk"].kind == "directory"


def test_a_missing_directory_is_an_error_naming_the_iso(tmp_path):
    path = iso(tmp_path)
    with pytest.raises(IsoImageError, match=rf"^{path}: has no directory boot$"):
        list_members(path, "boot/grub")


def test_a_missing_member_is_an_error_naming_the_iso_and_the_member(tmp_path, dest):
    path = iso(tmp_path)
    with pytest.raises(IsoImageError, match=rf"^{path}: has no casper/hwe-vmlinuz$"):
        extract(path, {"linux": "casper/hwe-vmlinuz"}, dest, max_bytes=LIMIT)
    assert list(dest.iterdir()) == []


def test_a_symlink_member_is_refused_not_followed(tmp_path, dest):
    members = live_server_members(KERNEL, INITRD)
    del members["casper/initrd"]
    path = make_iso(tmp_path / "link.iso", members, symlinks={"casper/initrd": "/etc/passwd"})
    assert list_members(path, "casper")["initrd"].kind == "symlink"
    with pytest.raises(IsoImageError, match=r"casper/initrd is not a regular file but a symlink"):
        extract(path, WANTED, dest, max_bytes=LIMIT)
    assert not (dest / "initrd.gz").exists()


def test_a_fifo_or_a_directory_is_not_a_regular_file(tmp_path, dest):
    path = make_iso(tmp_path / "fifo.iso", live_server_members(KERNEL, INITRD), fifos=("casper/hwe-initrd",))
    with pytest.raises(IsoImageError, match=r"casper/hwe-initrd is not a regular file but a device, FIFO or socket"):
        extract(path, {"x": "casper/hwe-initrd"}, dest, max_bytes=LIMIT)
    with pytest.raises(IsoImageError, match=r"casper is not a regular file but a directory"):
        extract(path, {"x": "casper"}, dest, max_bytes=LIMIT)


def test_a_member_over_the_limit_is_refused_before_a_byte_is_written(tmp_path, dest):
    path = iso(tmp_path)
    with pytest.raises(IsoImageError, match=rf"casper/initrd is {len(INITRD)} bytes, larger than the limit of 1000000"):
        extract(path, WANTED, dest, max_bytes=1_000_000)
    assert not (dest / "initrd.gz").exists()


def test_a_truncated_iso_is_refused_with_both_sizes(tmp_path, dest):
    path = iso(tmp_path)
    whole = path.stat().st_size
    os.truncate(path, whole // 2 // 2048 * 2048)
    with pytest.raises(IsoImageError, match=rf"truncated: its volume descriptor says {whole} bytes, the file has"):
        extract(path, WANTED, dest, max_bytes=LIMIT)
    assert list(dest.iterdir()) == []


def test_an_iso_cut_inside_a_member_is_refused_even_when_its_descriptor_lies(tmp_path, dest):
    """pycdlib would quietly shorten the member whose data runs past the end of the file."""
    path = iso(tmp_path)
    cut = path.stat().st_size - 300 * 1024 - 1000  # into the last file, before xorriso's 300 KiB of padding
    with open(path, "r+b") as f:
        f.seek(16 * 2048 + 80)  # ECMA-119 8.4.8: Volume Space Size, both-endian, in 2048-byte blocks
        f.write(struct.pack("<I", cut // 2048) + struct.pack(">I", cut // 2048))
        f.truncate(cut)
    with pytest.raises(IsoImageError, match=rf"truncated: {cut} bytes is not a whole number of 2048-byte blocks"):
        extract(path, WANTED, dest, max_bytes=LIMIT)
    assert list(dest.iterdir()) == []


def test_a_file_that_is_not_an_iso_is_refused(tmp_path, dest):
    path = tmp_path / "junk.iso"
    path.write_bytes(b"<html>captive portal</html>" * 5000)
    with pytest.raises(IsoImageError, match=rf"^{path}: not a readable ISO 9660 image"):
        extract(path, WANTED, dest, max_bytes=LIMIT)


def test_an_iso_with_garbage_where_its_directories_were_is_refused(tmp_path, dest):
    path = iso(tmp_path)
    data = bytearray(path.read_bytes())
    data[18 * 2048 : 30 * 2048] = os.urandom(12 * 2048)  # path tables and directory records follow the descriptors
    path.write_bytes(bytes(data))
    with pytest.raises(IsoImageError, match=rf"^{path}: "):
        extract(path, WANTED, dest, max_bytes=LIMIT)


def test_an_existing_file_in_dest_is_never_overwritten(tmp_path, dest):
    (dest / "linux").write_bytes(b"kept")
    with pytest.raises(FileExistsError):
        extract(iso(tmp_path), WANTED, dest, max_bytes=LIMIT)
    assert (dest / "linux").read_bytes() == b"kept"


@pytest.mark.parametrize(("rock_ridge", "joliet"), [(False, True), (False, False)])
def test_names_are_found_in_joliet_or_plain_iso_9660_when_rock_ridge_is_absent(tmp_path, dest, rock_ridge, joliet):
    path = iso(tmp_path, rock_ridge=rock_ridge, joliet=joliet)
    found = extract(path, WANTED, dest, max_bytes=LIMIT)
    assert found["linux"].sha256 == hashlib.sha256(KERNEL).hexdigest()
    assert (dest / "initrd.gz").read_bytes() == INITRD
    assert {"vmlinuz", "initrd"} <= {name.lower() for name in list_members(path, "casper")}
