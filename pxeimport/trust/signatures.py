"""OpenPGP signatures checked with `gpgv` against a keyring, the way apt checks an archive.

gpgv's machine-readable status lines (`--status-fd`, described in GnuPG's doc/DETAILS) decide, not
its exit code: gpgv exits 0 for a signature by an expired or revoked key. They are judged as apt's
methods/gpgv.cc judges them. Lines are grouped per signature (gpgv starts each with NEWSIG) and,
within a group, tied together by key id (the last 16 hex digits of a fingerprint), because gpgv
prints VALIDSIG *and* EXPKEYSIG for one signature by an expired key.

| status keyword              | verdict on that signature                                          |
| --------------------------- | ------------------------------------------------------------------ |
| GOODSIG <keyid>             | good, only together with a VALIDSIG of the same key, with a        |
|                             | trusted digest, and none of the "worthless" keywords for that key  |
| VALIDSIG <fpr> .. <hash> .. | needed beside GOODSIG (gives the fingerprint); alone it is nothing |
|                             | (gpg prints it for expired and revoked keys too). Digest MD5,      |
|                             | SHA1 or RIPEMD160 (ids 1-3) or unknown: worthless (apt: Untrusted) |
| EXPKEYSIG <keyid>           | worthless: made by a key that has expired                          |
| REVKEYSIG <keyid>           | worthless: made by a key that was revoked                          |
| EXPSIG <keyid>              | worthless: the signature itself has expired                        |
| ERRSIG <keyid> ..           | worthless: could not be checked (algorithm, or no key)             |
| NO_PUBKEY <keyid>           | worthless: the key is not in the keyring (said instead of ERRSIG)  |
| BADSIG <keyid>              | BAD: the whole file is refused, whatever else is good              |
| NODATA, BADARMOR            | BAD: no OpenPGP data at all: refused as "not a signed file"        |
| KEYEXPIRED, KEYREVOKED,     | neutral: about keys, not signatures, and without a key id; the     |
| SIGEXPIRED, KEY_CONSIDERED, | per-signature keyword above (EXPKEYSIG ...) decides                |
| SIG_ID, NEWSIG, others      |                                                                    |

What wins (apt's rule): the file is good when at least one signature is good and none is BADSIG
(and there is OpenPGP data). A worthless signature (an expired, revoked or unknown key) beside a
good one from another key does not spoil it: Debian signs Release with several keys, and the oldest
expires first. Without a good signature every problem seen is reported.

For a clearsigned file only what gpgv outputs as signed is returned, so text outside the signed
block can never be trusted by mistake. Something that is not OpenPGP data at all (a captive
portal's HTML page where InRelease should be) is refused before gpgv runs, saying what arrived.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

GPGV = "gpgv"
TIMEOUT_SECONDS = 60
CLEARSIGNED_HEADER = b"-----BEGIN PGP SIGNED MESSAGE-----"
ARMORED_SIGNATURE_HEADER = b"-----BEGIN PGP SIGNATURE-----"
# VALIDSIG's hash algorithm ids (RFC 4880 9.4) apt trusts: SHA256, SHA384, SHA512, SHA224.
TRUSTED_DIGESTS = frozenset({8, 9, 10, 11})
# Per-signature keywords that make that signature worthless, with what they mean.
WORTHLESS = {
    "EXPKEYSIG": "signed by a key that has expired (EXPKEYSIG)",
    "REVKEYSIG": "signed by a key that was revoked (REVKEYSIG)",
    "EXPSIG": "the signature has expired (EXPSIG)",
    "ERRSIG": "signature could not be checked (ERRSIG)",
}
NO_PUBKEY_REASON = "signed by a key that is not in the keyring"


@dataclass(frozen=True)
class DefaultKeyring:
    path: Path
    package: str
    # Where the package is to be had, when not everywhere.
    where: str = ""

    @property
    def hint(self) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"the {self.package} package{where} provides {self.path}"


# The distributions' archive keyrings, as their Debian/Ubuntu packages install them.
DEFAULT_KEYRINGS = {
    # Holds the archive keys and Ubuntu's CD image key (843938DF228D22F7B3742BC0D94AA3F0EFE21092) that
    # signs the releases' SHA256SUMS.
    "ubuntu": DefaultKeyring(
        Path("/usr/share/keyrings/ubuntu-archive-keyring.gpg"),
        "ubuntu-keyring",
        "on Ubuntu and Debian 13; on Debian 12 from bookworm-backports",
    ),
    "debian": DefaultKeyring(Path("/usr/share/keyrings/debian-archive-keyring.gpg"), "debian-archive-keyring"),
}


class SignatureError(Exception):
    """A signature is missing, bad, by an unknown key, or could not be checked."""

    def __init__(self, name: str, reason: str, key_id: str = "") -> None:
        key = f" (key {key_id})" if key_id else ""
        super().__init__(f"{name}: {reason}{key}")
        self.name = name
        self.reason = reason
        self.key_id = key_id


class NotSigned(SignatureError):
    """What arrived is not an OpenPGP signed file or signature at all (an HTML page, an error text)."""


@dataclass(frozen=True)
class Verified:
    """Signed content, the fingerprint of the key whose signature was good, and when it signed.

    `signed_at` is the signature's creation time (VALIDSIG's sig-timestamp, Unix seconds, UTC):
    it is inside the signed data, so a mirror cannot change it.
    """

    content: bytes
    fingerprint: str
    signed_at: int = 0


ARMOR_HEADER = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


def keyring_problem(keyring: Path) -> str | None:
    """Why gpgv cannot use `keyring`, in words naming the fix; None when it is a readable binary keyring file.

    gpgv reads binary keyrings only: given an ASCII-armored key (a mirror's `Release.key`, a `*.asc`;
    RFC 4880 section 6.2) it says "keydb_search failed: Invalid packet" and then only "No public
    key", so a good archive would be reported as signed by an unknown key.
    """
    if keyring.is_dir():
        try:
            inside = sorted(p.name for p in keyring.iterdir() if p.is_file())[:3]
        except OSError:
            inside = []
        return "is a directory, not a keyring file: " + (
            f"give one of the files in it ({', '.join(inside)})" if inside else "it holds no file"
        )
    if not keyring.exists():
        return "keyring file not found"
    try:
        with keyring.open("rb") as f:
            head = f.read(256)
    except PermissionError:
        return f"keyring file not readable by uid {os.geteuid()}: chmod a+r it, or run as a user who may read it"
    except OSError as exc:
        return f"keyring file cannot be read: {exc.strerror or exc}"
    if head.lstrip().startswith(ARMOR_HEADER):
        return (
            "is an ASCII-armored key (-----BEGIN PGP PUBLIC KEY BLOCK-----); gpgv reads binary keyrings only: "
            f"convert it once with `gpg --dearmor < {keyring} > {keyring.with_suffix('.gpg')}` and give that file"
        )
    if not head:
        return "is empty: not a keyring"
    if not head[0] & 0x80:  # every OpenPGP packet starts with a tag byte whose top bit is set (RFC 4880 4.2)
        return "is not an OpenPGP keyring (neither binary OpenPGP data nor an armored key)"
    return None


def check_keyrings(keyrings: Sequence[Path], *, hint: str = "") -> None:
    """SignatureError unless every keyring is a readable binary keyring file (gpgv would only say
    'no public key'): keyring_problem's words, and `hint` on where the keyring is set."""
    if not keyrings:
        raise SignatureError("keyring", "no keyring configured for this source" + (f"; {hint}" if hint else ""))
    for keyring in keyrings:
        problem = keyring_problem(keyring)
        if problem is not None:
            raise SignatureError(str(keyring), problem + (f"; {hint}" if hint else ""))


def verify_clearsigned(
    data: bytes, keyrings: Sequence[Path], *, name: str, content_type: str | None = None
) -> Verified:
    """Verify an InRelease-style clearsigned file; return the signed text only.

    NotSigned (naming its size, `content_type` as served and first bytes) when `data` has no
    clearsigned block at all.
    """
    if CLEARSIGNED_HEADER not in data:
        raise NotSigned(name, describe_unsigned(data, content_type, "clearsigned file"))
    with tempfile.TemporaryDirectory(prefix="pxeimport-gpgv-") as tmp:
        signed = Path(tmp) / "signed"
        signed.write_bytes(data)
        output = Path(tmp) / "output"
        fingerprint, signed_at = _gpgv(["--output", str(output), str(signed)], keyrings, name=name)
        return Verified(output.read_bytes(), fingerprint, signed_at)


def verify_detached(
    data: bytes, signature: bytes, keyrings: Sequence[Path], *, name: str, content_type: str | None = None
) -> Verified:
    """Verify `signature` (Release.gpg, SHA256SUMS.gpg) over `data`.

    NotSigned when `signature` is neither ASCII-armored nor binary OpenPGP (RFC 4880 4.2: the
    first octet of a packet has its high bit set).
    """
    if not (signature.lstrip().startswith(ARMORED_SIGNATURE_HEADER) or signature[:1] >= b"\x80"):
        raise NotSigned(name, describe_unsigned(signature, content_type, "OpenPGP signature"))
    with tempfile.TemporaryDirectory(prefix="pxeimport-gpgv-") as tmp:
        content = Path(tmp) / "content"
        content.write_bytes(data)
        sig = Path(tmp) / "content.sig"
        sig.write_bytes(signature)
        fingerprint, signed_at = _gpgv([str(sig), str(content)], keyrings, name=name)
        return Verified(data, fingerprint, signed_at)


def _gpgv(args: list[str], keyrings: Sequence[Path], *, name: str) -> tuple[str, int]:
    gpgv = shutil.which(GPGV)
    if gpgv is None:
        raise SignatureError(name, "gpgv is not installed (Debian package gpgv)")
    check_keyrings(keyrings)
    command = [gpgv, "--status-fd", "1"]
    for keyring in keyrings:
        command += ["--keyring", str(keyring.absolute())]
    try:
        # An empty GNUPGHOME: gpgv must not pick up the caller's trustedkeys.kbx.
        with tempfile.TemporaryDirectory(prefix="pxeimport-gnupg-") as home:
            os.chmod(home, 0o700)
            result = subprocess.run(
                command + args,
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GNUPGHOME": home, "LC_ALL": "C"},
                check=False,
            )
    except subprocess.TimeoutExpired as exc:
        raise SignatureError(name, "gpgv timed out") from exc
    return _judge(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"), name=name)


def _judge(status: str, stderr: str, *, name: str) -> tuple[str, int]:
    """(fingerprint, creation time) of a good signature, from gpgv's status lines; SignatureError otherwise.

    The module docstring's table is the rule; `stderr` only fills a message when no status says why.
    """
    groups = _signatures(status)
    for group in groups:
        if group.bad:
            raise SignatureError(name, "BAD signature: the file was altered after signing", group.bad[0])
    if any(group.no_data for group in groups):
        raise NotSigned(name, "not a signed file: gpgv found no OpenPGP data in it")
    for group in groups:
        good = group.good()
        if good:
            return good[0]
    problems = [problem for group in groups for problem in group.problems()]
    if problems:
        # The unknown key first: it says more than the ERRSIG gpgv prints beside it.
        problems.sort(key=lambda p: p[0] != NO_PUBKEY_REASON)
        reason = "; ".join(dict.fromkeys(p[0] for p in problems))
        raise SignatureError(name, f"no good signature: {reason}", problems[0][1])
    detail = " ".join(stderr.split())[:200] or "no signature found"
    raise SignatureError(name, f"not verified: {detail}")


def _same_key(a: str, b: str) -> bool:
    """Whether two key ids or fingerprints name one key (a key id is a fingerprint's last 16 digits)."""
    return len(a) >= 16 and len(b) >= 16 and a[-16:].upper() == b[-16:].upper()


@dataclass
class _Signature:
    """What gpgv's status lines said about one signature (from one NEWSIG to the next)."""

    goodsig: list[str] = field(default_factory=list)
    # (fingerprint of the signing key, hash algorithm id, signature creation time)
    validsig: list[tuple[str, int, int]] = field(default_factory=list)
    # (key id, reason)
    worthless: list[tuple[str, str]] = field(default_factory=list)
    no_pubkey: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    no_data: bool = False

    def good(self) -> list[tuple[str, int]]:
        """(fingerprint, signed at) vouched for by GOODSIG and VALIDSIG, a trusted digest, nothing worthless."""
        return [
            (fpr, signed_at)
            for fpr, digest, signed_at in self.validsig
            if digest in TRUSTED_DIGESTS
            and any(_same_key(fpr, key) for key in self.goodsig)
            and not any(_same_key(fpr, key) for key, _ in self.worthless)
        ]

    def problems(self) -> list[tuple[str, str]]:
        """(reason, key id) for each thing that kept this signature from being good."""
        found = [(NO_PUBKEY_REASON, key) for key in self.no_pubkey]
        # An ERRSIG beside a NO_PUBKEY for the same key is the same trouble, said twice.
        found += [
            (reason, key)
            for key, reason in self.worthless
            if not (reason == WORTHLESS["ERRSIG"] and any(_same_key(key, k) for k in self.no_pubkey))
        ]
        found += [
            (f"signature made with a weak digest algorithm (id {digest})", fpr[-16:])
            for fpr, digest, _ in self.validsig
            if digest not in TRUSTED_DIGESTS
        ]
        return found


def _signatures(status: str) -> list[_Signature]:
    """gpgv's `--status-fd` lines grouped per signature; lines before any NEWSIG form the first group."""
    groups = [_Signature()]
    for line in status.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "[GNUPG:]":
            continue
        keyword, args = words[1], words[2:]
        current = groups[-1]
        if keyword == "NEWSIG":
            if current != _Signature():
                groups.append(_Signature())
        elif keyword in ("NODATA", "BADARMOR"):
            current.no_data = True
        elif not args:
            continue  # KEYREVOKED and other keywords about keys: neutral
        elif keyword == "GOODSIG":
            current.goodsig.append(args[0])
        elif keyword == "VALIDSIG":
            digest = int(args[7]) if len(args) > 7 and args[7].isdigit() else 0
            current.validsig.append((args[0], digest, _timestamp(args[2] if len(args) > 2 else "")))
        elif keyword == "BADSIG":
            current.bad.append(args[0])
        elif keyword == "NO_PUBKEY":
            current.no_pubkey.append(args[0])
        elif keyword in WORTHLESS:
            current.worthless.append((args[0], WORTHLESS[keyword]))
    return groups


def _timestamp(value: str) -> int:
    """A status line's time: Unix seconds, or ISO 8601 "20260101T120000" (doc/DETAILS allows both); 0 if neither."""
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return 0


def describe_unsigned(data: bytes, content_type: str | None, expected: str) -> str:
    """What arrived instead of a signed file: size, Content-Type, first bytes made printable.

    e.g. "not a clearsigned file: 1234 bytes, Content-Type text/html, an HTML page starting
    '<!DOCTYPE html><title>Log in'... (a captive portal or proxy login page?)".
    """
    head = data[:60].decode("ascii", errors="replace")
    shown = " ".join(
        "".join(c if c.isprintable() and c.isascii() else " " if c.isspace() else "?" for c in head).split()
    )
    typed = f", Content-Type {' '.join(content_type.split())[:80]}" if content_type else ""
    looks_html = data.lstrip()[:1] == b"<" or (content_type or "").lower().startswith("text/html")
    what = "an HTML page starting" if looks_html else "starting"
    more = "..." if len(data) > 60 else ""
    hint = " (a captive portal or proxy login page?)" if looks_html else ""
    article = "an" if expected[:1].lower() in "aeiou" else "a"
    return f"not {article} {expected}: {len(data)} bytes{typed}, {what} '{shown}'{more}{hint}"
