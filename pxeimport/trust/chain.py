"""The chain of trust from a keyring to an installer index (SHA256SUMS).

Debian: dists/<release>/InRelease (or Release + Release.gpg), verified with gpgv, lists the hash of
main/installer-<arch>/current/images/SHA256SUMS; the index must match it. Ubuntu's Release does
not list installer indexes; there each SHA256SUMS has a detached SHA256SUMS.gpg beside it.
Which applies is decided per archive, release and arch by what the signed Release lists.
Roots (a Release, a detached-signed SHA256SUMS and their signatures) are fetched whole every run;
a listed index may come from the cache, but only a copy with the hash the Release lists.

A good signature is not enough: the index must also be fresh (see pxeimport.trust.freshness): a Release
past its Valid-Until, dated in the future, or older than the newest already trusted is refused.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pxeimport.fetching import Fetcher, NotFound
from pxeimport.lib import Once
from pxeimport.trust.freshness import Freshness, FreshnessStore, check_dates, from_timestamp
from pxeimport.trust.release import ReleaseEntry, parse_release, parse_release_dates
from pxeimport.trust.signatures import SignatureError, Verified, check_keyrings, verify_clearsigned, verify_detached

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedRelease:
    url: str
    entries: dict[str, ReleaseEntry]
    fingerprint: str
    # The suite's URL (<dists>/<release>/): what the freshness store keys it by.
    suite: str
    freshness: Freshness


class IndexVerifier:
    """Verifies indexes of one source against its keyrings; caches each release's Release.

    `allow_expired`: accept a Release past its Valid-Until (a frozen private mirror), with a
    warning each time. `freshness`: where the newest trusted Dates are remembered; None: replays
    are not detected. `clock`: Unix seconds now.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        dists_url: str,
        keyrings: Sequence[Path],
        keyring_hint: str = "",
        *,
        allow_expired: bool = False,
        freshness: FreshnessStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fetcher = fetcher
        self.dists_url = dists_url.rstrip("/") + "/"
        self.keyrings = tuple(keyrings)
        self.keyring_hint = keyring_hint
        self.allow_expired = allow_expired
        self.freshness = freshness
        self.clock = clock
        self._releases: Once[str, SignedRelease | None] = Once()

    def listed_sha256(self, release: str, release_path: str) -> str | None:
        """The SHA-256 the verified, fresh Release of `release` lists for `release_path`; None if none.

        A layout asks before fetching the index, so that a cached copy of it is used only when it
        is exactly what the signed Release lists (pxeimport.fetching.indexcache). SignatureError as `verify`.
        """
        check_keyrings(self.keyrings, hint=self.keyring_hint)
        signed = self._release(release)
        entry = signed.entries.get(release_path) if signed is not None else None
        return entry.sha256 if entry is not None else None

    def listed_paths(self, release: str) -> list[str] | None:
        """Every path the verified, fresh Release of `release` lists; None when the archive has no Release
        for it at all (no InRelease, no Release). SignatureError as `verify`."""
        check_keyrings(self.keyrings, hint=self.keyring_hint)
        signed = self._release(release)
        return sorted(signed.entries) if signed is not None else None

    def verify(self, release: str, release_path: str, index_url: str, index: bytes) -> str:
        """The fingerprint that vouches for `index`; SignatureError if nothing valid (and fresh) does.

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
            self._record(signed.suite, signed.freshness)
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

    def verify_inrelease(self, url: str, data: bytes) -> tuple[bytes, str]:
        """(the signed text, the key's fingerprint) of a package archive's clearsigned InRelease at
        `url`, judged fresh as any Release (Valid-Until, a future Date, older than trusted)."""
        check_keyrings(self.keyrings, hint=self.keyring_hint)
        verified = verify_clearsigned(data, self.keyrings, name=url, content_type=self.fetcher.content_type(url))
        signed = self._parse(url.rsplit("/", 1)[0] + "/", url, verified)
        self._record(signed.suite, signed.freshness)
        return verified.content, verified.fingerprint

    def verify_checksum_list(
        self, list_url: str, data: bytes, signature_url: str = "", series: str = ""
    ) -> tuple[bytes, str]:
        """(the signed text, the key's fingerprint) of an ISO checksum list with no Release above it.

        Clearsigned when `signature_url` is "" (Fedora's <compose>-CHECKSUM, AlmaLinux's CHECKSUM), else
        with the detached signature fetched from `signature_url` (Rocky Linux's CHECKSUM.sig, openSUSE's
        <iso>.sha256.asc). The signature's creation time dates the list, so an older list replayed after a
        newer one is refused (StaleIndex), as for SHA256SUMS: the newer one of `series` (default: of the
        list's URL; openSUSE's lists have one URL per build, so one series is each ISO's builds).
        SignatureError / NotSigned otherwise.
        """
        check_keyrings(self.keyrings, hint=self.keyring_hint)
        key = series or list_url
        if not signature_url:
            verified = verify_clearsigned(
                data, self.keyrings, name=list_url, content_type=self.fetcher.content_type(list_url)
            )
            freshness = Freshness(from_timestamp(verified.signed_at))
            self._check(key, list_url, freshness)
            self._record(key, freshness)
            return verified.content, verified.fingerprint
        signature = self.fetcher.get_bytes(signature_url)
        return data, self._detached(key, data, signature, signature_url)

    def _detached(self, index_url: str, index: bytes, signature: bytes, name: str = "") -> str:
        """Verify a detached signature; its creation time stands in for the Date the index lacks."""
        name = name or index_url + ".gpg"
        verified = verify_detached(
            index, signature, self.keyrings, name=name, content_type=self.fetcher.content_type(name)
        )
        freshness = Freshness(from_timestamp(verified.signed_at))
        self._check(index_url, name, freshness)
        self._record(index_url, freshness)
        return verified.fingerprint

    def _release(self, release: str) -> SignedRelease | None:
        """The verified Release, fetched once per run (several threads may ask at once)."""
        return self._releases.get(release, lambda: self._fetch_release(release))

    def _fetch_release(self, release: str) -> SignedRelease | None:
        """The verified, fresh Release of `release`, or None when the archive has none at all."""
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
            return self._parse(base, url, verified)
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
        return self._parse(base, base + "Release", verified)

    def _parse(self, suite: str, url: str, verified: Verified) -> SignedRelease:
        text = verified.content.decode("utf-8", errors="replace")
        entries = parse_release(text, name=url)
        dates = parse_release_dates(text, name=url)
        # A Release without a Date is dated by its signature, which is signed too.
        freshness = Freshness(dates.date or from_timestamp(verified.signed_at), dates.valid_until)
        self._check(suite, url, freshness)
        return SignedRelease(url, entries, verified.fingerprint, suite, freshness)

    def _check(self, key: str, name: str, freshness: Freshness) -> None:
        """StaleIndex when `name` is expired (and not allowed), from the future, or older than trusted."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        warning = check_dates(name, freshness, now, allow_expired=self.allow_expired)
        if warning:
            log.warning("%s", warning)
        if self.freshness is not None:
            self.freshness.check(key, name, freshness.date)

    def _record(self, key: str, freshness: Freshness) -> None:
        """Remember the Date once the index it vouches for has been verified."""
        if self.freshness is not None:
            self.freshness.record(key, freshness.date)
