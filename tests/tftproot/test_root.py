"""TftpRoot on a real filesystem: version dirs, atomic pointer swaps, migration, clean-up, safety, the lock."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from pxeimport.lib import InvalidName
from pxeimport.tftproot import (
    MANIFEST,
    Installed,
    InstalledFile,
    LockHeld,
    Slot,
    TftpRoot,
    UnsafePath,
    version_id,
)

DAY = 24 * 3600


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> TftpRoot:
    return TftpRoot(tmp_path / "tftpboot")


@pytest.fixture
def make_sources(tmp_path: Path):
    """Write files into a fresh dir on the same filesystem; return (sources, hashes, version)."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, bytes]) -> tuple[dict[str, Path], dict[str, str], str]:
        where = tmp_path / f"src-{next(counter)}"
        where.mkdir()
        sources = {}
        for name, data in files.items():
            (where / name).write_bytes(data)
            sources[name] = where / name
        hashes = {name: sha(data) for name, data in files.items()}
        return sources, hashes, version_id(hashes)

    return make


@pytest.fixture
def install(root: TftpRoot, make_sources):
    """install(slot, files) -> (version, version_dir)."""

    def run(slot: Slot, files: dict[str, bytes]) -> tuple[str, Path]:
        sources, hashes, version = make_sources(files)
        return version, root.install(slot, version, sources, hashes)

    return run


KERNEL_V1 = {"linux": b"kernel v1", "initrd.gz": b"initrd v1"}
KERNEL_V2 = {"linux": b"kernel v1", "initrd.gz": b"initrd v2"}
KERNEL_V3 = {"linux": b"kernel v3", "initrd.gz": b"initrd v3"}
LOADER_V1 = {"pxelinux.0": b"pxelinux v1", "ldlinux.c32": b"ldlinux v1"}


# version_id -----------------------------------------------------------------------------------


def test_version_id_does_not_depend_on_the_order_of_the_files():
    a, b = sha(b"a"), sha(b"b")
    assert version_id({"linux": a, "initrd.gz": b}) == version_id({"initrd.gz": b, "linux": a})


def test_version_id_changes_with_any_hash():
    a, b = sha(b"a"), sha(b"b")
    base = version_id({"linux": a, "initrd.gz": b})
    assert version_id({"linux": a, "initrd.gz": sha(b"c")}) != base
    assert version_id({"linux": sha(b"c"), "initrd.gz": b}) != base


def test_version_id_changes_with_any_name():
    a, b = sha(b"a"), sha(b"b")
    base = version_id({"linux": a, "initrd.gz": b})
    assert version_id({"vmlinuz": a, "initrd.gz": b}) != base
    assert version_id({"linux": b, "initrd.gz": a}) != base
    assert version_id({"linux": a}) != base


def test_version_id_is_16_lower_case_hex_digits():
    vid = version_id({"linux": sha(b"a")})
    assert len(vid) == 16
    assert set(vid) <= set("0123456789abcdef")


# Slots ----------------------------------------------------------------------------------------


def test_slots_live_under_maas_arch_base(root):
    assert root.install_slot("amd64", "bookworm") == Slot(root.path / "maas/amd64/base/bookworm", "install", True)
    assert root.loader_slot("amd64") == Slot(root.path / "maas/amd64/base", "_loader", False)


@pytest.mark.parametrize(("arch", "release"), [("../x", "bookworm"), ("amd64", ".."), ("amd64", "a/b")])
def test_slots_refuse_names_that_are_not_one_path_component(root, arch, release):
    with pytest.raises(InvalidName):
        root.install_slot(arch, release)


def test_parse_version_accepts_only_prefix_dash_16_hex():
    slot = Slot(Path("/x"), "install", True)
    assert slot.parse_version("install-0123456789abcdef") == "0123456789abcdef"
    for name in (
        "install-0123456789ABCDEF",
        "install-0123456789abcde",
        "install",
        "xinstall-0123456789abcdef",
        "install-0123456789abcdef0",
        "_loader-0123456789abcdef",
    ):
        assert slot.parse_version(name) is None, name


# install: whole-dir slot ----------------------------------------------------------------------


def test_install_builds_a_version_dir_and_a_relative_pointer(root, install):
    slot = root.install_slot("amd64", "bookworm")
    version, version_dir = install(slot, KERNEL_V1)

    pointer = slot.parent / "install"
    assert version_dir == slot.parent / f"install-{version}"
    assert pointer.is_symlink()
    assert os.readlink(pointer) == f"install-{version}"
    assert (pointer / "linux").read_bytes() == b"kernel v1"
    assert (pointer / "initrd.gz").read_bytes() == b"initrd v1"
    assert (version_dir / MANIFEST).read_text() == f"{sha(b'initrd v1')}  initrd.gz\n{sha(b'kernel v1')}  linux\n"
    assert sorted(p.name for p in slot.parent.iterdir()) == ["install", f"install-{version}"]


def test_install_hard_links_the_sources_instead_of_copying(root, make_sources):
    slot = root.install_slot("amd64", "bookworm")
    sources, hashes, version = make_sources(KERNEL_V1)
    version_dir = root.install(slot, version, sources, hashes)
    assert (version_dir / "linux").stat().st_ino == sources["linux"].stat().st_ino


def test_reinstalling_the_same_version_reuses_its_dir(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, first = install(slot, KERNEL_V1)
    inode = first.stat().st_ino
    kernel_inode = (first / "linux").stat().st_ino

    _, second = install(slot, KERNEL_V1)

    assert second == first
    assert second.stat().st_ino == inode
    assert (second / "linux").stat().st_ino == kernel_inode


def test_a_new_version_moves_the_pointer_and_keeps_the_old_dir(root, install):
    slot = root.install_slot("amd64", "bookworm")
    v1, old = install(slot, KERNEL_V1)
    v2, new = install(slot, KERNEL_V2)
    assert v1 != v2
    assert os.readlink(slot.parent / "install") == new.name
    assert (old / "initrd.gz").read_bytes() == b"initrd v1"
    assert (slot.parent / "install" / "initrd.gz").read_bytes() == b"initrd v2"


def test_an_incomplete_version_dir_is_rebuilt(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, version_dir = install(slot, KERNEL_V1)
    (version_dir / "initrd.gz").unlink()

    _, again = install(slot, KERNEL_V1)

    assert (again / "initrd.gz").read_bytes() == b"initrd v1"
    assert root.installed(slot, ["linux", "initrd.gz"]).files.keys() == {"linux", "initrd.gz"}


def test_install_over_the_old_scripts_plain_dir_replaces_it_by_exchange(root, install, monkeypatch):
    slot = root.install_slot("amd64", "bookworm")
    legacy = slot.parent / "install"
    legacy.mkdir(parents=True)
    (legacy / "linux").write_bytes(b"old kernel")
    (legacy / "initrd.gz").write_bytes(b"old initrd")
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def recording_rename(src, dst, *args, **kwargs):
        renames.append((str(src), str(dst)))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", recording_rename)

    version, version_dir = install(slot, KERNEL_V1)

    assert legacy.is_symlink()
    assert os.readlink(legacy) == version_dir.name
    assert (legacy / "linux").read_bytes() == b"kernel v1"
    # No rename touched the pointer: the plain dir was swapped out by one RENAME_EXCHANGE.
    assert [r for r in renames if str(legacy) in r] == []
    # The old directory is gone, and no debris of the exchange remains.
    assert sorted(p.name for p in slot.parent.iterdir()) == ["install", f"install-{version}"]


def test_install_over_a_plain_dir_still_works_without_rename_exchange(root, install, monkeypatch):
    slot = root.install_slot("amd64", "bookworm")
    legacy = slot.parent / "install"
    legacy.mkdir(parents=True)
    (legacy / "linux").write_bytes(b"old kernel")

    class NoRenameat2:
        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoRenameat2)

    version, _ = install(slot, KERNEL_V1)

    assert legacy.is_symlink()
    assert (legacy / "linux").read_bytes() == b"kernel v1"
    assert sorted(p.name for p in slot.parent.iterdir()) == ["install", f"install-{version}"]


# install: per-file slot -----------------------------------------------------------------------


def test_loader_files_each_get_a_relative_pointer_into_the_version_dir(root, install):
    slot = root.loader_slot("amd64")
    version, version_dir = install(slot, LOADER_V1)
    base = root.base_dir("amd64")
    assert version_dir == base / f"_loader-{version}"
    assert os.readlink(base / "pxelinux.0") == f"_loader-{version}/pxelinux.0"
    assert os.readlink(base / "ldlinux.c32") == f"_loader-{version}/ldlinux.c32"
    assert (base / "pxelinux.0").read_bytes() == b"pxelinux v1"


def test_a_loader_file_dropped_from_the_set_loses_its_pointer(root, install):
    slot = root.loader_slot("amd64")
    install(slot, LOADER_V1)
    version, _ = install(slot, {"pxelinux.0": b"pxelinux v2"})
    base = root.base_dir("amd64")
    assert not os.path.lexists(base / "ldlinux.c32")
    assert os.readlink(base / "pxelinux.0") == f"_loader-{version}/pxelinux.0"


def test_dropping_a_loader_file_leaves_unrelated_links_and_release_dirs_alone(root, install):
    base = root.base_dir("amd64")
    install(root.install_slot("amd64", "bookworm"), KERNEL_V1)
    os.symlink("bookworm/install/linux", base / "linux-bookworm")
    install(root.loader_slot("amd64"), LOADER_V1)
    install(root.loader_slot("amd64"), {"pxelinux.0": b"pxelinux v2"})
    assert os.readlink(base / "linux-bookworm") == "bookworm/install/linux"
    assert (base / "bookworm" / "install" / "linux").exists()


def test_a_plain_loader_file_from_the_old_script_is_replaced_by_a_pointer(root, install):
    base = root.base_dir("amd64")
    base.mkdir(parents=True)
    (base / "pxelinux.0").write_bytes(b"old pxelinux")
    install(root.loader_slot("amd64"), LOADER_V1)
    assert (base / "pxelinux.0").is_symlink()
    assert (base / "pxelinux.0").read_bytes() == b"pxelinux v1"


# installed ------------------------------------------------------------------------------------


def test_installed_is_none_when_nothing_is_there(root):
    assert root.installed(root.install_slot("amd64", "bookworm"), ["linux", "initrd.gz"]) is None
    assert root.installed(root.loader_slot("amd64"), ["pxelinux.0"]) is None


def test_installed_reads_the_manifest_of_the_live_version(root, install):
    slot = root.install_slot("amd64", "bookworm")
    version, version_dir = install(slot, KERNEL_V1)
    assert root.installed(slot, ["linux", "initrd.gz"]) == Installed(
        version,
        {
            "linux": InstalledFile(version_dir / "linux", sha(b"kernel v1")),
            "initrd.gz": InstalledFile(version_dir / "initrd.gz", sha(b"initrd v1")),
        },
    )


def test_installed_trusts_the_manifest_rather_than_rehashing(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, version_dir = install(slot, KERNEL_V1)
    manifest = (version_dir / MANIFEST).read_text().replace(sha(b"kernel v1"), "f" * 64)
    (version_dir / MANIFEST).chmod(0o644)
    (version_dir / MANIFEST).write_text(manifest)
    assert root.installed(slot, ["linux"]).files["linux"].sha256 == "f" * 64


def test_installed_is_none_when_the_live_version_dir_lost_a_file(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, version_dir = install(slot, KERNEL_V1)
    (version_dir / "linux").unlink()
    assert root.installed(slot, ["linux", "initrd.gz"]) is None


def test_installed_is_none_when_the_pointer_names_something_else(root):
    slot = root.install_slot("amd64", "bookworm")
    slot.parent.mkdir(parents=True)
    os.symlink("/etc", slot.parent / "install")
    assert root.installed(slot, ["linux"]) is None


def test_installed_is_none_when_the_version_dir_has_no_manifest(root):
    slot = root.install_slot("amd64", "bookworm")
    version_dir = slot.version_dir("0123456789abcdef")
    version_dir.mkdir(parents=True)
    (version_dir / "linux").write_bytes(b"k")
    os.symlink(version_dir.name, slot.parent / "install")
    assert root.installed(slot, ["linux"]) is None


def test_installed_hashes_the_old_scripts_plain_dir(root):
    slot = root.install_slot("amd64", "bookworm")
    legacy = slot.parent / "install"
    legacy.mkdir(parents=True)
    (legacy / "linux").write_bytes(b"old kernel")
    assert root.installed(slot, ["linux", "initrd.gz"]) == Installed(
        None, {"linux": InstalledFile(legacy / "linux", sha(b"old kernel"), hashed=True)}
    )


def test_installed_hashes_the_old_scripts_plain_loader_files(root):
    base = root.base_dir("amd64")
    base.mkdir(parents=True)
    (base / "pxelinux.0").write_bytes(b"old pxelinux")
    assert root.installed(root.loader_slot("amd64"), ["pxelinux.0", "ldlinux.c32"]) == Installed(
        None, {"pxelinux.0": InstalledFile(base / "pxelinux.0", sha(b"old pxelinux"), hashed=True)}
    )


def test_installed_loader_reports_its_version_when_every_pointer_agrees(root, install):
    slot = root.loader_slot("amd64")
    version, version_dir = install(slot, LOADER_V1)
    got = root.installed(slot, ["pxelinux.0", "ldlinux.c32"])
    assert got.version == version
    assert got.files["ldlinux.c32"] == InstalledFile(version_dir / "ldlinux.c32", sha(b"ldlinux v1"))


def test_installed_loader_has_no_version_when_a_pointer_is_missing(root, install):
    slot = root.loader_slot("amd64")
    install(slot, LOADER_V1)
    (root.base_dir("amd64") / "ldlinux.c32").unlink()
    got = root.installed(slot, ["pxelinux.0", "ldlinux.c32"])
    assert got.version is None
    assert set(got.files) == {"pxelinux.0"}


# collect_garbage ------------------------------------------------------------------------------


def test_garbage_collection_keeps_the_live_version_whatever_the_clock(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, live = install(slot, KERNEL_V1)
    assert TftpRoot(root.path, 0).collect_garbage(slot, now=time.time() + 365 * DAY) == []
    assert (live / "linux").exists()


def test_superseded_versions_stay_for_the_grace_period_then_go(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, v1 = install(slot, KERNEL_V1)
    _, v2 = install(slot, KERNEL_V2)
    _, v3 = install(slot, KERNEL_V3)
    swapped = time.time()

    assert TftpRoot(root.path, 3600).collect_garbage(slot, now=swapped + 3000) == []
    assert v1.exists() and v2.exists()

    removed = TftpRoot(root.path, 3600).collect_garbage(slot, now=swapped + 3700)

    assert sorted(removed) == sorted([v1, v2])
    assert not v1.exists() and not v2.exists()
    assert (slot.parent / "install" / "linux").read_bytes() == b"kernel v3"
    assert v3.exists()


def test_the_grace_period_runs_from_the_last_swap_not_from_when_the_old_dir_was_built(root, install):
    slot = root.install_slot("amd64", "bookworm")
    _, old = install(slot, KERNEL_V1)
    long_ago = time.time() - 30 * DAY
    os.utime(old, (long_ago, long_ago))
    install(slot, KERNEL_V2)

    assert TftpRoot(root.path, 3600).collect_garbage(slot, now=time.time()) == []
    assert old.exists()
    assert TftpRoot(root.path, 3600).collect_garbage(slot, now=time.time() + 3601) == [old]


def test_superseded_loader_versions_go_and_release_dirs_stay(root, install):
    base = root.base_dir("amd64")
    install(root.install_slot("amd64", "bookworm"), KERNEL_V1)
    slot = root.loader_slot("amd64")
    _, old = install(slot, LOADER_V1)
    _, new = install(slot, {"pxelinux.0": b"pxelinux v2"})

    removed = TftpRoot(root.path, 60).collect_garbage(slot, now=time.time() + 61)

    assert removed == [old]
    assert new.exists()
    assert (base / "bookworm" / "install" / "linux").exists()
    assert (base / "pxelinux.0").read_bytes() == b"pxelinux v2"


def test_crash_debris_goes_at_once_and_unrelated_entries_stay(root, install):
    slot = root.install_slot("amd64", "bookworm")
    install(slot, KERNEL_V1)
    half_link = slot.parent / ".install.new-1a2b3c4d"
    os.symlink("install-0123456789abcdef", half_link)
    old_dir = slot.parent / ".install.new-deadbeef"
    old_dir.mkdir()
    (old_dir / "linux").write_bytes(b"old script's kernel")
    keep = [slot.parent / "README", slot.parent / "install-notaversion", slot.parent / "other-0123456789abcdef"]
    keep[0].write_text("hands off")
    keep[1].mkdir()
    keep[2].mkdir()

    removed = TftpRoot(root.path, 3600).collect_garbage(slot, now=time.time())

    assert sorted(removed) == sorted([half_link, old_dir])
    assert not os.path.lexists(half_link) and not old_dir.exists()
    assert all(p.exists() for p in keep)


def test_loader_crash_debris_goes_at_once(root, install):
    slot = root.loader_slot("amd64")
    install(slot, LOADER_V1)
    debris = root.base_dir("amd64") / ".pxelinux.0.new-0badf00d"
    os.symlink("_loader-0123456789abcdef/pxelinux.0", debris)
    assert TftpRoot(root.path, 3600).collect_garbage(slot, now=time.time()) == [debris]
    assert not os.path.lexists(debris)


def test_garbage_collection_of_a_slot_that_does_not_exist_removes_nothing(root):
    assert TftpRoot(root.path, 0).collect_garbage(root.install_slot("amd64", "bookworm")) == []
    assert not root.path.exists()


def test_garbage_collection_does_not_delete_through_a_symlinked_arch_dir(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    release = elsewhere / "base" / "bookworm"
    (release / "install-0123456789abcdef").mkdir(parents=True)
    (release / "install-fedcba9876543210").mkdir()
    (release / ".install.new-00000000").mkdir()
    os.symlink("install-fedcba9876543210", release / "install")
    root.maas.mkdir(parents=True)
    os.symlink(elsewhere, root.maas / "amd64")

    with contextlib.suppress(UnsafePath):
        TftpRoot(root.path, 0).collect_garbage(root.install_slot("amd64", "bookworm"), now=time.time() + DAY)

    assert (release / "install-0123456789abcdef").exists()
    assert (release / ".install.new-00000000").exists()


# ensure_dir and unsafe paths -------------------------------------------------------------------


def test_ensure_dir_creates_the_root_and_every_component(root):
    target = root.base_dir("amd64") / "bookworm"
    assert root.ensure_dir(target) == target
    assert target.is_dir()


def test_ensure_dir_refuses_a_symlinked_component_and_writes_nothing_there(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.maas.mkdir(parents=True)
    os.symlink(elsewhere, root.maas / "amd64")

    with pytest.raises(UnsafePath, match="is a symlink"):
        root.ensure_dir(root.base_dir("amd64") / "bookworm")

    assert list(elsewhere.iterdir()) == []


def test_install_refuses_a_symlinked_component_and_writes_nothing_there(root, make_sources, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.maas.mkdir(parents=True)
    os.symlink(elsewhere, root.maas / "amd64")
    sources, hashes, version = make_sources(KERNEL_V1)

    with pytest.raises(UnsafePath):
        root.install(root.install_slot("amd64", "bookworm"), version, sources, hashes)

    assert list(elsewhere.iterdir()) == []


def test_ensure_dir_refuses_a_symlinked_maas_dir(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.path.mkdir()
    os.symlink(elsewhere, root.maas)
    with pytest.raises(UnsafePath):
        root.staging_dir()
    assert list(elsewhere.iterdir()) == []


def test_ensure_dir_refuses_a_file_where_a_directory_goes(root):
    root.maas.mkdir(parents=True)
    (root.maas / "amd64").write_text("not a dir")
    with pytest.raises(UnsafePath, match="is not a directory"):
        root.ensure_dir(root.base_dir("amd64"))


def test_the_root_itself_may_be_a_symlink(tmp_path):
    real = tmp_path / "srv-tftp"
    real.mkdir()
    os.symlink(real, tmp_path / "tftpboot")
    root = TftpRoot(tmp_path / "tftpboot")
    root.ensure_dir(root.base_dir("amd64"))
    assert (real / "maas" / "amd64" / "base").is_dir()


# staging --------------------------------------------------------------------------------------


def test_the_staging_dir_is_0700_even_if_it_was_made_wider(root):
    root.staging.mkdir(parents=True, mode=0o755)
    root.staging.chmod(0o755)
    assert root.staging_dir() == root.staging
    assert root.staging.stat().st_mode & 0o777 == 0o700


def test_new_staging_dirs_are_private_and_inside_staging(root):
    first, second = root.new_staging_dir(), root.new_staging_dir()
    assert first != second
    assert first.parent == root.staging == second.parent
    assert first.stat().st_mode & 0o777 == 0o700


def test_clean_staging_removes_every_leftover_and_counts_them(root):
    staging = root.staging_dir()
    (staging / "fetch-abc").mkdir()
    (staging / "fetch-abc" / "linux").write_bytes(b"partial")
    (staging / "build-def").mkdir()
    (staging / "stray-file").write_bytes(b"x")
    os.symlink("/nonexistent", staging / "stray-link")

    assert root.clean_staging() == 4
    assert list(staging.iterdir()) == []
    assert staging.is_dir()


def test_clean_staging_without_a_staging_dir_does_nothing(root):
    assert root.clean_staging() == 0
    assert not root.path.exists()


def test_clean_staging_does_not_delete_through_a_symlinked_staging_dir(root, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep-me").write_text("important")
    root.maas.mkdir(parents=True)
    os.symlink(precious, root.staging)

    with contextlib.suppress(UnsafePath):
        root.clean_staging()

    assert (precious / "keep-me").exists()


# modes ----------------------------------------------------------------------------------------


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_files_are_0644_and_dirs_0755_under_umask_077(root, install, umask_077):
    slot = root.install_slot("amd64", "bookworm")
    _, version_dir = install(slot, KERNEL_V1)
    _, loader_dir = install(root.loader_slot("amd64"), LOADER_V1)

    for directory in (root.maas, root.maas / "amd64", root.base_dir("amd64"), slot.parent, version_dir, loader_dir):
        assert directory.stat().st_mode & 0o777 == 0o755, directory
    for name in ("linux", "initrd.gz", MANIFEST):
        assert (version_dir / name).stat().st_mode & 0o777 == 0o644, name
    assert (loader_dir / "pxelinux.0").stat().st_mode & 0o777 == 0o644


def test_a_private_source_file_becomes_0644_when_installed(root, make_sources):
    sources, hashes, version = make_sources(KERNEL_V1)
    for path in sources.values():
        path.chmod(0o600)
    version_dir = root.install(root.install_slot("amd64", "bookworm"), version, sources, hashes)
    assert (version_dir / "linux").stat().st_mode & 0o777 == 0o644


def test_a_tftp_root_the_importer_creates_is_0755_under_umask_077(root, install, umask_077):
    install(root.install_slot("amd64", "bookworm"), KERNEL_V1)
    assert root.path.stat().st_mode & 0o777 == 0o755


# the lock -------------------------------------------------------------------------------------


def test_a_second_lock_in_the_same_process_is_refused_naming_this_pid(root):
    with root.lock(), pytest.raises(LockHeld) as caught:  # noqa: SIM117 - the inner lock is what raises
        with root.lock():
            pytest.fail("acquired a lock that is held")
    held = caught.value
    assert held.lock_path == root.lock_path
    assert held.holder.startswith(f"pid {os.getpid()} on {socket.gethostname()} since ")
    assert str(root.lock_path) in str(held)


def test_a_refused_attempt_does_not_release_the_holders_lock(root):
    with root.lock():
        with pytest.raises(LockHeld), root.lock():
            pass
        with pytest.raises(LockHeld), TftpRoot(root.path).lock():
            pass


def test_the_lock_is_free_again_after_release_and_its_file_emptied(root):
    with root.lock():
        assert f"pid {os.getpid()}" in root.lock_path.read_text()
    assert root.lock_path.read_text() == ""
    with root.lock():
        pass


def test_the_lock_is_released_when_the_body_raises(root):
    with pytest.raises(RuntimeError), root.lock():
        raise RuntimeError("import crashed")
    with root.lock():
        assert root.lock_path.exists()


def test_the_lock_refuses_a_symlinked_lock_file(root, tmp_path):
    target = tmp_path / "target"
    target.write_text("not to be truncated")
    root.maas.mkdir(parents=True)
    os.symlink(target, root.lock_path)
    with pytest.raises(OSError), root.lock():
        pass
    assert target.read_text() == "not to be truncated"
