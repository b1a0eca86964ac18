"""The trust chain end to end: signed archives served on loopback, the command verifying them."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pxeimport.models import BootSource, InstalledFile
from tests.support.faulty import run_import
from tests.support.tree import install_dir
from tools.archive import ArchiveTree, netboot_files
from tools.faultserver import FaultServer
from tools.signing import ArchiveSigner

pytestmark = pytest.mark.django_db

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory):
    key = ArchiveSigner(tmp_path_factory.mktemp("stranger"), uid="a hijacked mirror <evil@test.invalid>")
    yield key
    key.close()


def installed_first(archive: ArchiveTree, import_pxe) -> dict[str, bytes]:
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    assert import_pxe(*ARGS).code == 0
    return files


def installed_first_from_files(archive: ArchiveTree) -> dict[str, bytes]:
    """v1 published (the caller imports it through its own server)."""
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    return files


def assert_still_serving(tftp_root: Path, files: dict[str, bytes]) -> None:
    directory = install_dir(tftp_root, "amd64", "bookworm")
    assert (directory / "linux").read_bytes() == files["linux"]
    assert (directory / "initrd.gz").read_bytes() == files["initrd.gz"]


def test_a_good_signature_is_recorded_with_the_signing_key(archive, import_pxe, signer):
    installed_first(archive, import_pxe)
    signed_by = set(InstalledFile.objects.values_list("signed_by", flat=True))
    assert signed_by == {signer.fingerprint}


def test_a_tampered_sha256sums_is_refused_and_the_old_files_kept(archive, import_pxe, tftp_root):
    good = installed_first(archive, import_pxe)
    images = archive.publish("bookworm", "amd64", netboot_files("v2"))
    # The attacker swaps in a backdoored initrd and rewrites SHA256SUMS to match; they cannot re-sign Release.
    netboot = archive.netboot_path("bookworm", "amd64")
    (images / netboot / "initrd.gz").write_bytes(b"a backdoored initrd")
    forged = hashlib.sha256(b"a backdoored initrd").hexdigest()
    lines = [
        f"{forged}  ./{netboot}/initrd.gz" if line.endswith("/initrd.gz") else line
        for line in (images / "SHA256SUMS").read_text().splitlines()
    ]
    (images / "SHA256SUMS").write_text("\n".join(lines) + "\n")

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "does not match the signed" in result.stderr
    assert "InRelease" in result.stderr
    assert_still_serving(tftp_root, good)


def test_a_tampered_release_is_a_bad_signature(archive, archive_server, import_pxe, tftp_root):
    good = installed_first(archive, import_pxe)
    archive.publish("bookworm", "amd64", netboot_files("v2"))
    inrelease = archive.root / "dists" / "bookworm" / "InRelease"
    inrelease.write_bytes(inrelease.read_bytes().replace(b"Origin: pxeimport tests", b"Origin: pxeimport evil!"))

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "BAD signature" in result.stderr
    assert archive_server.url + "dists/bookworm/InRelease" in result.stderr
    assert_still_serving(tftp_root, good)


def test_a_signature_by_an_unknown_key_is_refused_naming_the_key(tmp_path, archive_server, import_pxe, stranger):
    hijacked = ArchiveTree(tmp_path / "archive", signer=stranger)  # the path archive_server serves
    hijacked.publish("bookworm", "amd64", netboot_files("evil"))

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "signed by a key that is not in the keyring" in result.stderr
    assert stranger.fingerprint[-16:] in result.stderr
    assert not install_dir(tmp_path / "tftpboot", "amd64", "bookworm").exists()


def test_a_missing_signature_is_refused(archive, import_pxe, tftp_root):
    good = installed_first(archive, import_pxe)
    archive.publish("bookworm", "amd64", netboot_files("v2"))
    (archive.root / "dists" / "bookworm" / "InRelease").unlink()
    (archive.root / "dists" / "bookworm" / "Release.gpg").unlink()

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "unsigned: no InRelease and no Release.gpg" in result.stderr
    assert_still_serving(tftp_root, good)


def test_release_and_release_gpg_serve_when_there_is_no_inrelease(archive, import_pxe, tftp_root, signer):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    (archive.root / "dists" / "bookworm" / "InRelease").unlink()

    assert import_pxe(*ARGS).code == 0
    assert_still_serving(tftp_root, files)


def test_a_keyring_given_on_the_command_line_that_does_not_exist_is_a_usage_error_before_any_request(
    archive, archive_server, import_pxe, tftp_root, tmp_path
):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    result = import_pxe(*ARGS, keyring=tmp_path / "absent.gpg")
    assert result.code == 2
    assert f"--keyring {tmp_path / 'absent.gpg'}: keyring file not found" in result.stderr
    assert "or pass --keyring" not in result.stderr  # it was passed: no advice to do what was done
    assert archive_server.requests == []
    assert not install_dir(tftp_root, "amd64", "bookworm").exists()


def test_the_default_ubuntu_keyring_when_absent_names_its_package(archive, archive_server, tftp_root):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    if Path("/usr/share/keyrings/ubuntu-archive-keyring.gpg").exists():
        pytest.skip("this machine has the Ubuntu keyring; the message for its absence cannot be seen")
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    BootSource.objects.exclude(layout="debian-installer").delete()
    BootSource.objects.update(url=archive_server.url + "dists/", enabled=True)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_pxe_files", "--tftproot", str(tftp_root), *ARGS, stderr=err, verbosity=0)
    assert (
        "the ubuntu-keyring package (on Ubuntu and Debian 13; on Debian 12 from bookworm-backports) provides "
        "/usr/share/keyrings/ubuntu-archive-keyring.gpg" in err.getvalue()
    )


def test_an_ubuntu_style_archive_is_verified_by_sha256sums_gpg(tmp_path, archive_server, import_pxe, signer):
    ubuntu = ArchiveTree(tmp_path / "archive", signer=signer, release_lists_installer=False)
    files = netboot_files("focal")
    ubuntu.publish("bookworm", "amd64", files)

    assert import_pxe(*ARGS).code == 0
    assert_still_serving(tmp_path / "tftpboot", files)


def test_an_ubuntu_style_index_without_its_gpg_file_is_refused(tmp_path, archive_server, import_pxe, signer):
    ubuntu = ArchiveTree(tmp_path / "archive", signer=signer, release_lists_installer=False)
    images = ubuntu.publish("bookworm", "amd64", netboot_files("focal"))
    (images / "SHA256SUMS.gpg").unlink()

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "unsigned: not listed in the signed" in result.stderr
    assert "SHA256SUMS.gpg" in result.stderr


def test_skipping_signature_checks_imports_unsigned_but_warns_every_run(tmp_path, archive_server, tftp_root):

    unsigned = ArchiveTree(tmp_path / "archive")  # no signer: no Release, no InRelease
    unsigned.publish("bookworm", "amd64", netboot_files("private"))
    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="private", url=archive_server.url + "dists/", distribution="debian", skip_signature_checks=True
    )
    for stderr in import_amd64_bookworm_twice(source, tftp_root):
        assert "signature checks are off for boot source 'private'" in stderr
    assert set(InstalledFile.objects.values_list("signed_by", flat=True)) == {""}
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").exists()


def test_a_release_signed_by_a_key_that_has_since_expired_is_refused(tmp_path, archive_server, import_pxe):
    # The key was valid for a day, three days ago, and signed then: gpgv prints VALIDSIG and exits 0.
    expired = ArchiveSigner(
        tmp_path / "expired-key", uid="expired <x@test.invalid>", expires="1d", created=int(time.time()) - 3 * 86400
    )
    try:
        ArchiveTree(tmp_path / "archive", signer=expired).publish("bookworm", "amd64", netboot_files("old"))
        result = import_pxe(*ARGS, keyring=expired.keyring)
    finally:
        expired.close()

    assert result.code == 1
    assert "signed by a key that has expired (EXPKEYSIG)" in result.stderr
    assert archive_server.url + "dists/bookworm/InRelease" in result.stderr
    assert not install_dir(tmp_path / "tftpboot", "amd64", "bookworm").exists()


def test_a_release_signed_by_a_revoked_key_is_refused_and_the_old_files_kept(archive, import_pxe, tftp_root, signer):
    good = installed_first(archive, import_pxe)
    archive.publish("bookworm", "amd64", netboot_files("v2"))
    revoked = ArchiveSigner(tftp_root.parent / "revoked-key", uid="revoked <r@test.invalid>")
    try:
        ArchiveTree(archive.root, signer=revoked).sign_release("bookworm")
        revoked.revoke()
        result = import_pxe(*ARGS, keyring=revoked.keyring)
    finally:
        revoked.close()

    assert result.code == 1
    assert "signed by a key that was revoked (REVKEYSIG)" in result.stderr
    assert_still_serving(tftp_root, good)


PORTAL = b"<!DOCTYPE html>\n<html><head><title>Guest WiFi: log in</title></head><body>Accept the terms</body></html>\n"


@pytest.mark.parametrize("where", ["*", "*/InRelease"])
def test_a_captive_portal_page_instead_of_inrelease_says_what_arrived(archive, tftp_root, signer, where):
    good = installed_first_from_files(archive)
    with FaultServer(archive.root) as server:
        assert run_import(server.url, tftp_root, signer.keyring, *ARGS).code == 0
        archive.publish("bookworm", "amd64", netboot_files("v2"))
        server.page(where, PORTAL, "text/html; charset=utf-8")
        result = run_import(server.url, tftp_root, signer.keyring, *ARGS)

    assert result.code == 1
    assert (
        f"{server.url}dists/bookworm/InRelease: not a clearsigned file: {len(PORTAL)} bytes, "
        "Content-Type text/html; charset=utf-8, an HTML page starting '<!DOCTYPE html> <html><head><title>Guest WiFi"
    ) in result.stderr
    assert "(a captive portal or proxy login page?)" in result.stderr
    assert "first file" not in result.stderr
    assert_still_serving(tftp_root, good)


def test_a_captive_portal_page_instead_of_sha256sums_gpg_says_what_arrived(tmp_path, tftp_root, signer):
    ubuntu = ArchiveTree(tmp_path / "archive", signer=signer, release_lists_installer=False)
    ubuntu.publish("bookworm", "amd64", netboot_files("v1"))
    with FaultServer(ubuntu.root) as server:
        server.page("SHA256SUMS.gpg", PORTAL, "text/html")
        result = run_import(server.url, tftp_root, signer.keyring, *ARGS)

    assert result.code == 1
    index = server.url + "dists/bookworm/main/installer-amd64/current/images/SHA256SUMS.gpg"
    assert f"{index}: not an OpenPGP signature: {len(PORTAL)} bytes, Content-Type text/html, an HTML page" in (
        result.stderr
    ), result.stderr
    assert not install_dir(tftp_root, "amd64", "bookworm").exists()


# Fresh, not just signed: Valid-Until, a Date from the future, replays --------------------------------
DAY = timedelta(days=1)


def test_a_release_past_its_valid_until_is_refused_naming_the_date(archive, import_pxe, tftp_root):
    good = installed_first(archive, import_pxe)
    archive.valid_until = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
    archive.date = datetime(2026, 1, 13, 8, 0, tzinfo=UTC)
    archive.publish("bookworm", "amd64", netboot_files("frozen"))

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "InRelease: expired: its Valid-Until Tue, 20 Jan 2026 08:00:00 UTC has passed" in result.stderr
    assert_still_serving(tftp_root, good)


def test_a_release_within_its_valid_until_imports(archive, import_pxe, tftp_root):
    archive.valid_until = datetime.now(UTC) + 7 * DAY
    files = netboot_files("fresh")
    archive.publish("bookworm", "amd64", files)
    assert import_pxe(*ARGS).code == 0
    assert_still_serving(tftp_root, files)


def test_a_source_allowing_expired_indexes_imports_them_and_warns_every_run(archive, archive_server, tftp_root, signer):

    archive.valid_until = datetime.now(UTC) - 30 * DAY
    files = netboot_files("frozen-mirror")
    archive.publish("bookworm", "amd64", files)
    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="frozen",
        url=archive_server.url + "dists/",
        distribution="debian",
        keyring=str(signer.keyring),
        allow_expired_indexes=True,
    )
    for stderr in import_amd64_bookworm_twice(source, tftp_root):
        assert "boot source 'frozen' allows expired indexes" in stderr
    assert_still_serving(tftp_root, files)


def test_a_release_dated_in_the_future_is_refused_as_not_valid_yet(archive, import_pxe, tftp_root):
    good = installed_first(archive, import_pxe)
    archive.date = datetime.now(UTC) + 2 * DAY
    archive.publish("bookworm", "amd64", netboot_files("from-the-future"))

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert "InRelease: not valid yet: its Date " in result.stderr
    assert_still_serving(tftp_root, good)


def test_an_older_signed_release_after_a_newer_one_is_refused_and_the_newer_files_kept(
    archive, archive_server, import_pxe, tftp_root
):
    archive.date = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    march = netboot_files("march")
    archive.publish("bookworm", "amd64", march)
    assert import_pxe(*ARGS).code == 0
    # A mirror now serves January's validly signed Release and files.
    archive.date = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    archive.publish("bookworm", "amd64", netboot_files("january"))

    result = import_pxe(*ARGS)

    assert result.code == 1
    assert (
        f"{archive_server.url}dists/bookworm/InRelease: older than the index already trusted: its Date is "
        "Mon, 05 Jan 2026 06:00:00 UTC, but Mon, 02 Mar 2026 06:00:00 UTC was seen on an earlier run"
    ) in result.stderr
    assert_still_serving(tftp_root, march)
    # Dropping InRelease to serve the old Release + Release.gpg is the same suite: refused too.
    (archive.root / "dists" / "bookworm" / "InRelease").unlink()
    again = import_pxe(*ARGS)
    assert again.code == 1 and "dists/bookworm/Release: older than the index already trusted" in again.stderr
    assert_still_serving(tftp_root, march)


def test_a_newer_release_after_a_refused_replay_imports(archive, import_pxe, tftp_root):
    archive.date = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    archive.publish("bookworm", "amd64", netboot_files("march"))
    assert import_pxe(*ARGS).code == 0
    archive.date = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    archive.publish("bookworm", "amd64", netboot_files("january"))
    assert import_pxe(*ARGS).code == 1
    archive.date = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    april = netboot_files("april")
    archive.publish("bookworm", "amd64", april)
    assert import_pxe(*ARGS).code == 0
    assert_still_serving(tftp_root, april)


def test_an_older_detached_signed_sha256sums_is_refused_by_its_signature_time(tmp_path, archive_server, tftp_root):
    long_ago = int(time.time()) - 30 * 86400
    key = ArchiveSigner(tmp_path / "ubuntu-key", uid="ubuntu-style <u@test.invalid>", created=long_ago)
    try:
        ubuntu = ArchiveTree(tmp_path / "archive", signer=key, release_lists_installer=False)
        key.signing_time = long_ago + 20 * 86400
        newer = netboot_files("newer")
        ubuntu.publish("bookworm", "amd64", newer)
        assert run_import(archive_server.url, tftp_root, key.keyring, *ARGS).code == 0
        key.signing_time = long_ago + 10 * 86400  # an older SHA256SUMS and signature, replayed
        ubuntu.publish("bookworm", "amd64", netboot_files("older"))
        result = run_import(archive_server.url, tftp_root, key.keyring, *ARGS)
    finally:
        key.close()

    assert result.code == 1
    assert "SHA256SUMS.gpg: older than the index already trusted" in result.stderr
    assert_still_serving(tftp_root, newer)


def test_a_dry_run_records_no_date(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert import_pxe(*ARGS, "--dry-run").code == 0
    assert not (tftp_root / "maas" / ".cache" / "freshness.json").exists()
    assert import_pxe(*ARGS).code == 0
    assert (tftp_root / "maas" / ".cache" / "freshness.json").stat().st_mode & 0o777 == 0o600


def import_amd64_bookworm_twice(source: BootSource, tftp_root: Path) -> list[str]:
    """Select amd64/bookworm in the saved `source`, import from the saved selection twice; each run's stderr."""
    from io import StringIO

    from django.core.management import call_command

    source.arches.create(name="amd64")
    source.releases.create(name="bookworm")
    said = []
    for _ in range(2):
        err = StringIO()
        call_command(
            "import_pxe_files", "--tftproot", str(tftp_root), "--current-release", "bookworm", stderr=err, verbosity=0
        )
        said.append(err.getvalue())
    return said
