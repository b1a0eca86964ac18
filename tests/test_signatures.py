"""gpgv verdicts on real signatures: a throwaway key made at test time, and Debian's real InRelease."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxeimport.archive.release import ReleaseFormatError, parse_release
from pxeimport.signatures import SignatureError, verify_clearsigned, verify_detached
from tests.conftest import require_tool
from tools.signing import ArchiveSigner

FIXTURES = Path(__file__).parent / "fixtures"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory):
    require_tool("gpg")
    key = ArchiveSigner(tmp_path_factory.mktemp("stranger"), uid="someone else <else@test.invalid>")
    yield key
    key.close()


def test_a_clearsigned_file_yields_only_its_signed_text_and_the_signers_fingerprint(signer):
    signed = signer.clearsign(b"Codename: bookworm\n")
    verified = verify_clearsigned(b"Injected: outside the signature\n" + signed, [signer.keyring], name="InRelease")
    assert verified.content == b"Codename: bookworm\n"
    assert verified.fingerprint == signer.fingerprint


def test_a_clearsigned_file_altered_after_signing_is_a_bad_signature(signer):
    signed = signer.clearsign(b"SHA256:\n aaaa 1 main/x\n").replace(b"aaaa", b"bbbb")
    with pytest.raises(SignatureError, match="BAD signature") as caught:
        verify_clearsigned(signed, [signer.keyring], name="InRelease")
    assert caught.value.key_id and signer.fingerprint.endswith(caught.value.key_id)


def test_a_signature_by_a_key_outside_the_keyring_names_that_key(signer, stranger):
    signed = stranger.clearsign(b"Codename: bookworm\n")
    with pytest.raises(SignatureError, match="not in the keyring") as caught:
        verify_clearsigned(signed, [signer.keyring], name="http://mirror.test/dists/bookworm/InRelease")
    assert stranger.fingerprint.endswith(caught.value.key_id)
    assert "http://mirror.test/dists/bookworm/InRelease" in str(caught.value)


def test_an_unsigned_file_is_refused(signer):
    with pytest.raises(SignatureError, match="not verified"):
        verify_clearsigned(b"Codename: bookworm\n", [signer.keyring], name="InRelease")


def test_a_detached_signature_over_other_bytes_is_bad(signer):
    signature = signer.detach_sign(b"the real SHA256SUMS\n")
    assert verify_detached(b"the real SHA256SUMS\n", signature, [signer.keyring], name="x").fingerprint == (
        signer.fingerprint
    )
    with pytest.raises(SignatureError, match="BAD signature"):
        verify_detached(b"a forged SHA256SUMS\n", signature, [signer.keyring], name="SHA256SUMS.gpg")


def test_a_missing_keyring_file_is_named_with_the_package_that_provides_it(signer, tmp_path):
    missing = tmp_path / "nowhere.gpg"
    with pytest.raises(SignatureError, match="keyring file not found") as caught:
        verify_clearsigned(signer.clearsign(b"x\n"), [missing], name="InRelease")
    assert str(missing) in str(caught.value)


def test_debians_real_inrelease_verifies_with_debians_keyring_and_lists_the_installer_index():
    require_tool("gpgv")
    if not DEBIAN_KEYRING.is_file():
        pytest.fail(f"{DEBIAN_KEYRING} missing: make install brings the debian-archive-keyring package")
    verified = verify_clearsigned(
        (FIXTURES / "debian-bookworm-InRelease").read_bytes(), [DEBIAN_KEYRING], name="InRelease"
    )
    entries = parse_release(verified.content.decode(), name="InRelease")
    current = entries["main/installer-amd64/current/images/SHA256SUMS"]
    dated = [e for path, e in entries.items() if path.endswith("/images/SHA256SUMS") and "/2023" in path]
    assert current in dated
    assert len(current.sha256) == 64 and current.size > 0
    assert verified.fingerprint  # Debian signs with two keys; at least one is valid.


def test_a_release_without_a_sha256_field_is_refused():
    with pytest.raises(ReleaseFormatError, match="no SHA256 field"):
        parse_release("Origin: x\nMD5Sum:\n 0123 1 main/x\n")


def test_a_malformed_sha256_entry_is_refused():
    with pytest.raises(ReleaseFormatError, match="line 3"):
        parse_release("Origin: x\nSHA256:\n nothex 12 main/x\n")
