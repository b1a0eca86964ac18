"""The chain of trust from a keyring to an installer index (SHA256SUMS).

Debian: dists/<release>/InRelease (or Release + Release.gpg), verified with gpgv, lists the hash of
main/installer-<arch>/current/images/SHA256SUMS; the index must match it. Ubuntu's Release does
not list installer indexes; there each SHA256SUMS has a detached SHA256SUMS.gpg beside it.
Which applies is decided per archive, release and arch by what the signed Release lists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pxeimport.archive.release import ReleaseEntry, parse_release
from pxeimport.fetch import Fetcher, NotFound
from pxeimport.once import Once
from pxeimport.signatures import SignatureError, check_keyrings, verify_clearsigned, verify_detached


@dataclass(frozen=True)
class SignedRelease:
    url: str
    entries: dict[str, ReleaseEntry]
    fingerprint: str


class IndexVerifier:
    """Verifies indexes of one source against its keyrings; caches each release's Release."""

    def __init__(self, fetcher: Fetcher, dists_url: str, keyrings: Sequence[Path], keyring_hint: str = "") -> None:
        self.fetcher = fetcher
        self.dists_url = dists_url.rstrip("/") + "/"
        self.keyrings = tuple(keyrings)
        self.keyring_hint = keyring_hint
        self._releases: Once[str, SignedRelease | None] = Once()

    def verify(self, release: str, release_path: str, index_url: str, index: bytes) -> str:
        """The fingerprint that vouches for `index`; SignatureError if nothing valid does.

        `release_path` is the index's path as the Release file would list it
        (main/installer-<arch>/current/images/SHA256SUMS).
        """
        check_keyrings(self.keyrings, hint=self.keyring_hint)
        signed = self._release(release)
        if signed is not None and release_path in signed.entries:
            expected = signed.entries[release_path].sha256
            actual = hashlib.sha256(index).hexdigest()
            if actual != expected:
                raise SignatureError(
                    index_url, f"does not match the signed {signed.url} (SHA-256 {actual}, Release says {expected})"
                )
            return signed.fingerprint
        try:
            signature = self.fetcher.get_bytes(index_url + ".gpg")
        except NotFound as exc:
            where = f"not listed in the signed {signed.url}" if signed else "no signed Release for this release"
            raise SignatureError(index_url, f"unsigned: {where}, and no {index_url}.gpg") from exc
        return self._detached(index_url, index, signature)

    def verify_detached_index(self, index_url: str, index: bytes) -> str:
        """The fingerprint of a valid `<index_url>.gpg` over `index` (layouts with no Release file)."""
        check_keyrings(self.keyrings, hint=self.keyring_hint)
        try:
            signature = self.fetcher.get_bytes(index_url + ".gpg")
        except NotFound as exc:
            raise SignatureError(index_url, f"unsigned: no {index_url}.gpg") from exc
        return self._detached(index_url, index, signature)

    def _detached(self, index_url: str, index: bytes, signature: bytes) -> str:
        name = index_url + ".gpg"
        return verify_detached(
            index, signature, self.keyrings, name=name, content_type=self.fetcher.content_type(name)
        ).fingerprint

    def _release(self, release: str) -> SignedRelease | None:
        """The verified Release, fetched once per run (several threads may ask at once)."""
        return self._releases.get(release, lambda: self._fetch_release(release))

    def _fetch_release(self, release: str) -> SignedRelease | None:
        """The verified Release of `release`, or None when the archive has none at all."""
        base = f"{self.dists_url}{release}/"
        try:
            inrelease = self.fetcher.get_bytes(base + "InRelease")
        except NotFound:
            pass
        else:
            url = base + "InRelease"
            verified = verify_clearsigned(
                inrelease, self.keyrings, name=url, content_type=self.fetcher.content_type(url)
            )
            return self._parse(base + "InRelease", verified.content, verified.fingerprint)
        try:
            plain = self.fetcher.get_bytes(base + "Release")
        except NotFound:
            return None
        try:
            signature = self.fetcher.get_bytes(base + "Release.gpg")
        except NotFound as exc:
            raise SignatureError(base + "Release", "unsigned: no InRelease and no Release.gpg") from exc
        url = base + "Release.gpg"
        verified = verify_detached(
            plain, signature, self.keyrings, name=url, content_type=self.fetcher.content_type(url)
        )
        return self._parse(base + "Release", verified.content, verified.fingerprint)

    @staticmethod
    def _parse(url: str, content: bytes, fingerprint: str) -> SignedRelease:
        entries = parse_release(content.decode("utf-8", errors="replace"), name=url)
        return SignedRelease(url, entries, fingerprint)
