"""Operator mistakes caught before anything is written, each one line with the right exit status: a TFTP root
that cannot be what was meant, a keyring gpgv cannot use, and a dry run that says what would stop the real run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pxeimport.items import ItemKind
from pxeimport.lib import describe_os_error, remove_entry
from pxeimport.runs import RunOptions, build
from pxeimport.tftproot import TftpRoot, hold_lock
from pxeimport.trust import keyring_problem
from tests.support.requirements import require_tool
from tests.support.selection import import_files, saved_source
from tools.archive import ArchiveTree, netboot_files

pytestmark = pytest.mark.django_db

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


@pytest.fixture
def published(archive: ArchiveTree) -> ArchiveTree:
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    return archive


def test_a_tftproot_whose_parent_does_not_exist_is_refused_and_nothing_is_made(import_pxe, tmp_path, published):
    typo = tmp_path / "var" / "lib" / "tfptboot"
    result = import_pxe(*ARGS, "--tftproot", str(typo))
    assert result.code == 2
    assert f"--tftproot {typo}: neither it nor its parent {typo.parent} exists (a typo?)" in result.stderr
    assert not typo.parent.exists()


def test_a_new_tftproot_in_an_existing_directory_is_made(import_pxe, tmp_path, published):
    root = tmp_path / "tftp-new"
    assert import_pxe(*ARGS, "--tftproot", str(root)).code == 0
    assert (root / "maas" / "amd64" / "base" / "pxelinux.0").is_file()


def test_a_dry_run_while_another_import_holds_the_lock_says_the_real_run_would_stop(import_pxe, tftp_root, published):
    assert import_pxe(*ARGS).code == 0
    root = TftpRoot(tftp_root)
    with hold_lock(root.lock_path):
        result = import_pxe(*ARGS, "--dry-run")
    assert result.code == 0, result.stderr
    assert "WARNING: a real run would stop: another import holds" in result.stderr
    assert "a real run now would stop with exit 75" in result.stderr


def test_a_dry_run_with_nothing_in_the_way_says_nothing_would_stop_it(import_pxe, published):
    result = import_pxe(*ARGS, "--dry-run")
    assert result.code == 0 and "would stop" not in result.stderr


def test_an_ascii_armored_keyring_is_named_as_such_with_the_command_to_convert_it(tmp_path, signer):
    """What most private mirrors publish (Release.key, *.asc): gpgv alone says only 'No public key'."""
    gpg = require_tool("gpg")
    armored = tmp_path / "Release.key"
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run([gpg, "--homedir", str(home), "-q", "--import", str(signer.keyring)], check=True)
    armored.write_bytes(
        subprocess.run([gpg, "--homedir", str(home), "--armor", "--export"], check=True, capture_output=True).stdout
    )
    problem = keyring_problem(armored)
    assert problem is not None and "is an ASCII-armored key" in problem
    assert f"gpg --dearmor < {armored} > {tmp_path / 'Release.gpg'}" in problem
    assert keyring_problem(signer.keyring) is None


def test_a_keyring_given_as_a_directory_says_so_not_no_such_file(import_pxe, tmp_path, published):
    result = import_pxe(*ARGS, keyring=tmp_path)
    assert result.code == 2
    assert f"--keyring {tmp_path}: is a directory, not a keyring file" in result.stderr


def test_an_armored_keyring_given_on_the_command_line_is_a_usage_error_before_any_request(
    import_pxe, tmp_path, archive_server, published
):
    armored = tmp_path / "key.asc"
    armored.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n")
    result = import_pxe(*ARGS, keyring=armored)
    assert result.code == 2 and "is an ASCII-armored key" in result.stderr
    assert archive_server.requests == []


def test_a_keyring_that_is_not_there_is_said_to_be_not_found():
    assert keyring_problem(Path("/nonexistent/keyring.gpg")) == "keyring file not found"


def test_a_debian_installer_archive_without_release_is_refused_not_guessed_as_ubuntu(import_pxe, archive_server):
    result = import_pxe("--arch", "amd64")
    assert result.code == 2
    assert "needs --release (e.g. --release bookworm): a debian-installer archive may be Debian's or Ubuntu's" in (
        result.stderr
    )
    assert archive_server.requests == []


@pytest.mark.parametrize(
    ("releases", "loaders_from"),
    [(("bookworm",), "bookworm"), (("bookworm", "trixie"), "trixie"), (("trixie", "bookworm"), "trixie")],
)
def test_the_loaders_come_from_the_newest_selected_release_when_the_source_names_none(signer, releases, loaders_from):
    """A Debian source selecting only bookworm used to take its loaders "from trixie" (distro-info's stable)."""
    source = saved_source(
        "http://mirror.example.org/debian/dists/", signer.keyring, releases=releases, current_release=""
    )
    source.distribution = "debian"
    source.save()
    run = build(RunOptions(tftproot=Path("/srv/tftp")))
    try:
        assert {i.release for i in run.items if i.kind == ItemKind.LOADER} == {loaders_from}
    finally:
        run.fetcher.close()


def test_a_keyring_given_as_a_directory_names_the_files_in_it(tmp_path):
    (tmp_path / "keyring.gpg").write_bytes(b"\x99")
    assert keyring_problem(tmp_path) == "is a directory, not a keyring file: give one of the files in it (keyring.gpg)"


def test_a_saved_source_whose_keyring_is_armored_is_refused_before_any_request(tmp_path, archive_server, tftp_root):
    armored = tmp_path / "Release.key"
    armored.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n")
    saved_source(archive_server.url + "dists/", armored, releases=("bookworm",))
    result = import_files(tftp_root)
    assert result.code == 2  # a mistake to fix: the timer does not retry it
    assert f"boot source 'mirror': keyring {armored} is an ASCII-armored key" in result.stderr
    assert archive_server.requests == []


def test_a_verify_run_with_nothing_wrong_says_what_it_checked(import_pxe, published):
    assert import_pxe(*ARGS).code == 0
    result = import_pxe(*ARGS, "--verify")
    assert result.code == 0
    # pxelinux.0 and ldlinux.c32, linux and initrd.gz: every file of the two served items.
    assert "--verify: 4 served file(s) of 2 item(s) hashed; none damaged." in result.stdout


def test_the_lock_file_is_its_owners_only_so_tftpd_never_serves_who_holds_it(import_pxe, tftp_root, published):
    lock = TftpRoot(tftp_root).lock_path
    assert import_pxe(*ARGS).code == 0
    assert lock.stat().st_mode & 0o777 == 0o600


def test_an_os_error_names_the_whole_path_its_owner_and_the_command_that_fixes_it(tmp_path, monkeypatch):
    """Found by a walk: shutil's fd-based rmtree gave bare names ("initrd.gz"), then placed in the wrong dir."""
    version = tmp_path / "maas" / "amd64" / "base" / "bookworm" / "install-0123456789abcdef"
    version.mkdir(parents=True)
    (version / "initrd.gz").write_bytes(b"")
    unlink = os.unlink

    def refused(name, *args, **kwargs):  # what a root-owned directory does to the service user
        if os.fsdecode(name) == "initrd.gz":
            raise PermissionError(13, "Permission denied", name)
        return unlink(name, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    with pytest.raises(PermissionError) as caught:
        remove_entry(version)
    assert caught.value.filename == str(version / "initrd.gz")
    said = describe_os_error(caught.value, tmp_path)
    assert said.startswith(f"{version / 'initrd.gz'}: permission denied for ")
    assert "(made by hand as another user?); as root: chown -R " in said and said.endswith(f": {tmp_path}")
