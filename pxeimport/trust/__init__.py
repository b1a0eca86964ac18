"""The chain of trust, the way apt judges an archive: OpenPGP signatures checked with gpgv against a keyring,
Release files and SHA256SUMS parsed strictly, freshness (Valid-Until, a Date from the future, replays of an
older index), and the chain from a keyring to an installer index.

Imports: lib, fetching. Django: never.
"""

from __future__ import annotations

from pxeimport.trust.chain import IndexVerifier, SignedRelease
from pxeimport.trust.checksums import ChecksumIndexError, parse_sha256sums
from pxeimport.trust.freshness import FILE_NAME, Freshness, FreshnessStore, StaleIndex, check_dates, from_timestamp
from pxeimport.trust.release import ReleaseEntry, ReleaseFormatError, parse_release, parse_release_dates
from pxeimport.trust.signatures import (
    DEFAULT_KEYRINGS,
    NotSigned,
    SignatureError,
    Verified,
    check_keyrings,
    keyring_problem,
    verify_clearsigned,
    verify_detached,
)

__all__ = [
    "DEFAULT_KEYRINGS",
    "FILE_NAME",
    "ChecksumIndexError",
    "Freshness",
    "FreshnessStore",
    "IndexVerifier",
    "NotSigned",
    "ReleaseEntry",
    "ReleaseFormatError",
    "SignatureError",
    "SignedRelease",
    "StaleIndex",
    "Verified",
    "check_dates",
    "check_keyrings",
    "from_timestamp",
    "keyring_problem",
    "parse_release",
    "parse_release_dates",
    "parse_sha256sums",
    "verify_clearsigned",
    "verify_detached",
]
