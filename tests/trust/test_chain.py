"""IndexVerifier on its own: a Release's hash list vouches for an index, else a detached .gpg; real gpgv, faked HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pxeimport.fetching import Fetcher, FetchSettings
from pxeimport.trust import IndexVerifier, SignatureError
from tools.signing import ArchiveSigner

DISTS = "http://debian.example.org/debian/dists/"
PATH = "main/installer-amd64/current/images/SHA256SUMS"
INDEX_URL = f"{DISTS}bookworm/{PATH}"
INDEX = b"0" * 64 + b"  ./netboot/debian-installer/amd64/linux\n"


def release(*entries: tuple[str, bytes]) -> bytes:
    lines = ["Origin: Debian", "Suite: stable", "Codename: bookworm", "Date: Sat, 10 Jun 2023 08:00:00 UTC", "SHA256:"]
    lines += [f" {hashlib.sha256(data).hexdigest()} {len(data)} {path}" for path, data in entries]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def verifier(signer: ArchiveSigner) -> IndexVerifier:
    return IndexVerifier(Fetcher(FetchSettings(retries=0, backoff=0)), DISTS, [signer.keyring])


def test_an_index_whose_hash_the_signed_release_lists_is_vouched_for_by_the_release_key(http, verifier, signer):
    http.get(f"{DISTS}bookworm/InRelease", body=signer.clearsign(release((PATH, INDEX))))
    assert verifier.verify("bookworm", PATH, INDEX_URL, INDEX) == signer.fingerprint


def test_an_index_differing_from_the_signed_hash_is_refused_naming_both_hashes(http, verifier, signer):
    http.get(f"{DISTS}bookworm/InRelease", body=signer.clearsign(release((PATH, INDEX))))
    with pytest.raises(SignatureError, match=r"does not match the signed .*InRelease") as caught:
        verifier.verify("bookworm", PATH, INDEX_URL, INDEX + b"tampered\n")
    assert hashlib.sha256(INDEX).hexdigest() in str(caught.value)


def test_an_index_the_release_does_not_list_needs_its_own_detached_signature(http, verifier, signer):
    http.get(f"{DISTS}bookworm/InRelease", body=signer.clearsign(release()))
    http.get(INDEX_URL + ".gpg", body=signer.detach_sign(INDEX))
    assert verifier.verify("bookworm", PATH, INDEX_URL, INDEX) == signer.fingerprint


def test_an_unlisted_index_without_a_detached_signature_is_refused_as_unsigned(http, verifier, signer):
    http.get(f"{DISTS}bookworm/InRelease", body=signer.clearsign(release()))
    http.get(INDEX_URL + ".gpg", status=404)
    with pytest.raises(SignatureError, match="unsigned: not listed in the signed"):
        verifier.verify("bookworm", PATH, INDEX_URL, INDEX)


def test_release_and_release_gpg_are_used_when_there_is_no_inrelease(http, verifier, signer):
    plain = release((PATH, INDEX))
    http.get(f"{DISTS}bookworm/InRelease", status=404)
    http.get(f"{DISTS}bookworm/Release", body=plain)
    http.get(f"{DISTS}bookworm/Release.gpg", body=signer.detach_sign(plain))
    assert verifier.verify("bookworm", PATH, INDEX_URL, INDEX) == signer.fingerprint


def test_a_release_without_any_signature_is_refused(http, verifier):
    http.get(f"{DISTS}bookworm/InRelease", status=404)
    http.get(f"{DISTS}bookworm/Release", body=release((PATH, INDEX)))
    http.get(f"{DISTS}bookworm/Release.gpg", status=404)
    with pytest.raises(SignatureError, match=r"unsigned: no InRelease and no Release\.gpg"):
        verifier.verify("bookworm", PATH, INDEX_URL, INDEX)


def test_the_release_is_fetched_once_for_every_index_it_vouches_for(http, verifier, signer):
    other = "main/installer-i386/current/images/SHA256SUMS"
    served = http.get(f"{DISTS}bookworm/InRelease", body=signer.clearsign(release((PATH, INDEX), (other, INDEX))))
    verifier.verify("bookworm", PATH, INDEX_URL, INDEX)
    verifier.verify("bookworm", other, f"{DISTS}bookworm/{other}", INDEX)
    assert served.call_count == 1


def test_a_missing_keyring_is_refused_before_any_request_with_the_hint(http, tmp_path: Path):
    verifier = IndexVerifier(
        Fetcher(FetchSettings(retries=0)), DISTS, [tmp_path / "absent.gpg"], "package debian-archive-keyring"
    )
    with pytest.raises(SignatureError, match="keyring file not found; package debian-archive-keyring"):
        verifier.verify("bookworm", PATH, INDEX_URL, INDEX)
    assert len(http.calls) == 0
