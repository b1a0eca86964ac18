"""OpenPGP signatures checked with `gpgv` against a keyring, the way apt checks an archive.

gpgv's machine-readable status lines decide, not its exit code: a file with several signatures
(Debian signs Release with two keys) is good when at least one is valid by a key in the keyring
and none is bad. For a clearsigned file only what gpgv outputs as signed is returned, so text
outside the signed block can never be trusted by mistake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

GPGV = "gpgv"
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class DefaultKeyring:
    path: Path
    package: str

    @property
    def hint(self) -> str:
        return f"the {self.package} package provides {self.path}"


# The distributions' archive keyrings, as their Debian/Ubuntu packages install them.
DEFAULT_KEYRINGS = {
    "ubuntu": DefaultKeyring(Path("/usr/share/keyrings/ubuntu-archive-keyring.gpg"), "ubuntu-keyring"),
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


@dataclass(frozen=True)
class Verified:
    """Signed content, and the fingerprint of the key whose signature was valid."""

    content: bytes
    fingerprint: str


def check_keyrings(keyrings: Sequence[Path], *, hint: str = "") -> None:
    """SignatureError unless every keyring file exists (gpgv would only say 'no public key')."""
    if not keyrings:
        raise SignatureError("keyring", "no keyring configured for this source" + (f"; {hint}" if hint else ""))
    for keyring in keyrings:
        if not keyring.is_file():
            raise SignatureError(str(keyring), "keyring file not found" + (f"; {hint}" if hint else ""))


def verify_clearsigned(data: bytes, keyrings: Sequence[Path], *, name: str) -> Verified:
    """Verify an InRelease-style clearsigned file; return the signed text only."""
    with tempfile.TemporaryDirectory(prefix="pxeimport-gpgv-") as tmp:
        signed = Path(tmp) / "signed"
        signed.write_bytes(data)
        output = Path(tmp) / "output"
        fingerprint = _gpgv(["--output", str(output), str(signed)], keyrings, name=name)
        return Verified(output.read_bytes(), fingerprint)


def verify_detached(data: bytes, signature: bytes, keyrings: Sequence[Path], *, name: str) -> Verified:
    """Verify `signature` (Release.gpg, SHA256SUMS.gpg) over `data`."""
    with tempfile.TemporaryDirectory(prefix="pxeimport-gpgv-") as tmp:
        content = Path(tmp) / "content"
        content.write_bytes(data)
        sig = Path(tmp) / "content.sig"
        sig.write_bytes(signature)
        fingerprint = _gpgv([str(sig), str(content)], keyrings, name=name)
        return Verified(data, fingerprint)


def _gpgv(args: list[str], keyrings: Sequence[Path], *, name: str) -> str:
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


def _judge(status: str, stderr: str, *, name: str) -> str:
    """The fingerprint of a valid signature, from gpgv's status lines; SignatureError otherwise."""
    valid: list[str] = []
    problems: list[tuple[str, str]] = []
    for line in status.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "[GNUPG:]":
            continue
        keyword, argument = words[1], words[2]
        if keyword == "VALIDSIG":
            valid.append(argument)
        elif keyword == "BADSIG":
            raise SignatureError(name, "BAD signature: the file was altered after signing", argument)
        elif keyword == "NO_PUBKEY":
            problems.append(("signed by a key that is not in the keyring", argument))
        elif keyword in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
            problems.append((f"signature not accepted ({keyword})", argument))
        elif keyword == "ERRSIG":
            problems.append(("signature could not be checked", argument))
    if valid:
        return valid[0]
    if problems:
        # NO_PUBKEY says more than the ERRSIG gpgv prints beside it for the same signature.
        problems.sort(key=lambda p: not p[0].startswith("signed by a key"))
        reason, key_id = problems[0]
        raise SignatureError(name, reason, key_id)
    detail = " ".join(stderr.split())[:200] or "no signature found"
    raise SignatureError(name, f"not verified: {detail}")
