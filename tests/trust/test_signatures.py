"""gpgv verdicts on real signatures: a throwaway key made at test time, and Debian's real InRelease."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pxeimport.trust import ReleaseFormatError, parse_release
from pxeimport.trust.signatures import (
    NotSigned,
    SignatureError,
    _judge,
    describe_unsigned,
    verify_clearsigned,
    verify_detached,
)
from tests.support.requirements import gpg_agents, require_tool
from tools.racksite import wait_until
from tools.signing import ArchiveSigner

FIXTURES = Path(__file__).parent.parent / "fixtures"
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


def test_an_unsigned_file_is_refused_as_not_a_signed_file(signer):
    with pytest.raises(NotSigned, match="not a clearsigned file: 19 bytes, starting 'Codename: bookworm'"):
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


# gpgv's status lines, judged -----------------------------------------------------------------------
# Two keys: A signs well, B is the other signer. Lines as gpgv 2.2 prints them (doc/DETAILS).
FPR_A = "3ACB19C418E08B4C1B48310BA6DF6677CC0F1BB7"
FPR_B = "E8070E083B8113F6B2F416F4D303F25187A599CB"


def validsig(fpr: str, digest: int = 8) -> str:
    return f"[GNUPG:] VALIDSIG {fpr} 2026-11-26 1795719998 0 4 0 22 {digest} 01 {fpr}"


def signature(fpr: str, verdict: str, digest: int = 8) -> list[str]:
    """One signature's lines: NEWSIG, the verdict keyword, and VALIDSIG where gpgv prints it."""
    keyid = fpr[-16:]
    lines = ["[GNUPG:] NEWSIG", f"[GNUPG:] KEY_CONSIDERED {fpr} 0"]
    if verdict == "GOODSIG":
        return [*lines, f"[GNUPG:] GOODSIG {keyid} archive <a@test.invalid>", validsig(fpr, digest)]
    if verdict == "EXPKEYSIG":
        return [*lines, "[GNUPG:] KEYEXPIRED 1795802798", f"[GNUPG:] EXPKEYSIG {keyid} x", validsig(fpr, digest)]
    if verdict == "REVKEYSIG":
        return [*lines, "[GNUPG:] KEYREVOKED", f"[GNUPG:] REVKEYSIG {keyid} x", validsig(fpr, digest)]
    if verdict == "EXPSIG":
        return [*lines, "[GNUPG:] SIGEXPIRED deprecated", f"[GNUPG:] EXPSIG {keyid} x", validsig(fpr, digest)]
    if verdict == "BADSIG":
        return [*lines, f"[GNUPG:] BADSIG {keyid} x"]
    if verdict == "NO_PUBKEY":
        return ["[GNUPG:] NEWSIG", f"[GNUPG:] ERRSIG {keyid} 22 8 01 1795719998 9 {fpr}", f"[GNUPG:] NO_PUBKEY {keyid}"]
    if verdict == "ERRSIG":
        return ["[GNUPG:] NEWSIG", f"[GNUPG:] ERRSIG {keyid} 99 8 01 1795719998 4 -"]
    raise AssertionError(verdict)


def judge(*signatures: list[str]) -> str:
    """The fingerprint _judge finds good (and checks the signature time it gives beside it)."""
    fingerprint, signed_at = _judge("\n".join(line for s in signatures for line in s) + "\n", "", name="InRelease")
    assert signed_at == 1795719998
    return fingerprint


def test_goodsig_with_its_validsig_is_good_and_gives_the_fingerprint():
    assert judge(signature(FPR_A, "GOODSIG")) == FPR_A


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        ("EXPKEYSIG", "signed by a key that has expired (EXPKEYSIG)"),
        ("REVKEYSIG", "signed by a key that was revoked (REVKEYSIG)"),
        ("EXPSIG", "the signature has expired (EXPSIG)"),
        ("ERRSIG", "signature could not be checked (ERRSIG)"),
        ("NO_PUBKEY", "signed by a key that is not in the keyring"),
    ],
)
def test_a_worthless_signature_alone_is_refused_even_beside_its_validsig(verdict, reason):
    with pytest.raises(SignatureError) as caught:
        judge(signature(FPR_A, verdict))
    assert caught.value.reason == f"no good signature: {reason}"
    assert caught.value.key_id == FPR_A[-16:]


@pytest.mark.parametrize("verdict", ["EXPKEYSIG", "REVKEYSIG", "EXPSIG", "ERRSIG", "NO_PUBKEY"])
def test_a_worthless_signature_beside_a_good_one_by_another_key_leaves_the_file_good(verdict):
    # apt's rule: Debian signs with several keys; an old, expired one must not spoil the file.
    assert judge(signature(FPR_B, verdict), signature(FPR_A, "GOODSIG")) == FPR_A


def test_a_badsig_refuses_the_file_even_beside_a_good_signature():
    with pytest.raises(SignatureError, match="BAD signature") as caught:
        judge(signature(FPR_A, "GOODSIG"), signature(FPR_B, "BADSIG"))
    assert caught.value.key_id == FPR_B[-16:]


def test_a_validsig_without_goodsig_is_not_good():
    with pytest.raises(SignatureError, match="not verified"):
        judge(["[GNUPG:] NEWSIG", validsig(FPR_A)])


def test_a_goodsig_of_one_key_does_not_make_another_keys_validsig_good():
    lines = ["[GNUPG:] NEWSIG", f"[GNUPG:] GOODSIG {FPR_B[-16:]} x", validsig(FPR_A)]
    with pytest.raises(SignatureError):
        judge(lines)


def test_expkeysig_wins_over_goodsig_for_the_same_key_without_newsig_lines():
    # Older gpg prints no NEWSIG: the key id still ties EXPKEYSIG to the VALIDSIG beside it.
    lines = [f"[GNUPG:] GOODSIG {FPR_A[-16:]} x", f"[GNUPG:] EXPKEYSIG {FPR_A[-16:]} x", validsig(FPR_A)]
    with pytest.raises(SignatureError, match="EXPKEYSIG"):
        judge(lines)


@pytest.mark.parametrize(("digest", "name"), [(1, "MD5"), (2, "SHA1"), (3, "RIPEMD160"), (0, "unknown")])
def test_a_signature_over_an_untrusted_digest_is_worthless(digest, name):
    with pytest.raises(SignatureError, match=f"weak digest algorithm \\(id {digest}\\)"):
        judge(signature(FPR_A, "GOODSIG", digest=digest))


@pytest.mark.parametrize("keyword", ["NODATA 1", "BADARMOR"])
def test_no_openpgp_data_is_not_a_signed_file(keyword):
    with pytest.raises(NotSigned, match="not a signed file"):
        judge([f"[GNUPG:] {keyword}"])


@pytest.mark.parametrize("keyword", ["KEYEXPIRED 1795802798", "KEYREVOKED", "SIGEXPIRED x", "SIG_ID abc 2026-11-26 1"])
def test_key_level_keywords_alone_neither_make_nor_spoil_a_signature(keyword):
    assert judge([*signature(FPR_A, "GOODSIG"), f"[GNUPG:] {keyword}"]) == FPR_A


def test_all_problems_are_named_when_nothing_is_good():
    with pytest.raises(SignatureError) as caught:
        judge(signature(FPR_A, "EXPKEYSIG"), signature(FPR_B, "NO_PUBKEY"))
    assert "not in the keyring" in caught.value.reason and "EXPKEYSIG" in caught.value.reason
    assert caught.value.key_id == FPR_B[-16:]


# Real keys that expired or were revoked -------------------------------------------------------------


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory):
    """A key made three days ago, valid for one day; it signs as of then (gpg's faked system time)."""
    require_tool("gpg")
    key = ArchiveSigner(
        tmp_path_factory.mktemp("expired"),
        uid="expired <x@test.invalid>",
        expires="1d",
        created=int(time.time()) - 3 * 86400,
    )
    yield key
    key.close()


def test_a_file_signed_by_a_key_that_has_since_expired_is_refused(expired):
    # gpgv says VALIDSIG and exits 0 here; EXPKEYSIG beside it decides.
    signed = expired.clearsign(b"Codename: bookworm\n")
    with pytest.raises(SignatureError, match="EXPKEYSIG") as caught:
        verify_clearsigned(signed, [expired.keyring], name="InRelease")
    assert expired.fingerprint.endswith(caught.value.key_id)


def test_a_file_signed_by_a_revoked_key_is_refused(tmp_path):
    require_tool("gpg")
    key = ArchiveSigner(tmp_path / "revoked", uid="revoked <r@test.invalid>")
    try:
        signature = key.detach_sign(b"SHA256SUMS\n")
        assert verify_detached(b"SHA256SUMS\n", signature, [key.keyring], name="x").fingerprint == key.fingerprint
        key.revoke()
        with pytest.raises(SignatureError, match="REVKEYSIG"):
            verify_detached(b"SHA256SUMS\n", signature, [key.keyring], name="SHA256SUMS.gpg")
    finally:
        key.close()


def test_an_expired_key_beside_a_good_one_leaves_the_file_good(signer, expired, tmp_path):
    both = tmp_path / "both.gpg"
    both.write_bytes(signer.keyring.read_bytes() + expired.keyring.read_bytes())
    data = b"SHA256SUMS\n"
    signatures = expired.detach_sign(data) + signer.detach_sign(data)
    # Two armored signatures one after the other: gpgv checks both, as with Debian's Release.gpg.
    assert verify_detached(data, signatures, [both], name="Release.gpg").fingerprint == signer.fingerprint


def test_an_html_page_is_described_not_handed_to_gpgv(signer):
    page = b"<!DOCTYPE html>\n<html><head><title>Hotel WiFi \x1b[31m login</title></head></html>\n"
    with pytest.raises(NotSigned) as caught:
        verify_detached(b"x", page, [signer.keyring], name="Release.gpg", content_type="text/html; charset=utf-8")
    message = str(caught.value)
    assert message.startswith(f"Release.gpg: not an OpenPGP signature: {len(page)} bytes, Content-Type text/html")
    assert "an HTML page starting '<!DOCTYPE html> <html><head><title>Hotel WiFi ?[31m login</t'..." in message
    assert "\x1b" not in message and "first file" not in message


def test_binary_data_is_described_with_its_size_only_in_printable_characters():
    text = describe_unsigned(bytes(range(0, 256, 3)), None, "clearsigned file")
    assert text.startswith("not a clearsigned file: 86 bytes, starting '")
    assert all(c.isprintable() for c in text)


def test_a_good_signature_gives_its_creation_time(signer):
    before = int(time.time())
    verified = verify_detached(b"x\n", signer.detach_sign(b"x\n"), [signer.keyring], name="x")
    assert before - 2 <= verified.signed_at <= int(time.time()) + 2


def test_a_signature_time_in_iso_form_is_read_too():
    lines = [f"[GNUPG:] GOODSIG {FPR_A[-16:]} x", f"[GNUPG:] VALIDSIG {FPR_A} 2026-11-26 20261126T190638 0 4 0 22 8 01"]
    assert _judge("\n".join(lines), "", name="x") == (FPR_A, 1795719998)


def test_the_archive_signer_leaves_no_gpg_agent_running_for_its_home(tmp_path):
    require_tool("gpg")
    key = ArchiveSigner(tmp_path / "home")
    assert b"BEGIN PGP SIGNATURE" in key.clearsign(b"signed\n")
    wait_until("the signer's gpg-agent exits", lambda: not gpg_agents(key.home), 10)
