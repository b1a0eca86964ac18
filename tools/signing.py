"""A throwaway OpenPGP key made with real gpg, to sign generated archives (tests, demo)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pxeimport.publication import stop_gpg_agent


class ArchiveSigner:
    """A key in its own GNUPGHOME; `keyring` is a file `gpgv --keyring` takes. No gpg-agent outlives a call."""

    def __init__(
        self,
        home: Path,
        uid: str = "pxeimport test archive <archive@test.invalid>",
        *,
        expires: str = "never",
        created: int | None = None,
    ) -> None:
        """`expires` as gpg --quick-gen-key takes it ("never", "1d"); `created`: the key's creation
        time (Unix seconds; gpg's --faked-system-time), to make a key that has expired by now."""
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        # Signatures are made at this time too, so a key that has expired signed while it was valid.
        self.signing_time = created
        self._gpg("--quick-gen-key", uid, "ed25519", "sign", expires)
        listing = self._gpg("--with-colons", "--list-secret-keys").decode()
        self.fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        self.keyring = self.home / "keyring.gpg"
        self.keyring.write_bytes(self._gpg("--export", self.fingerprint))

    def _gpg(self, *args: str, data: bytes | None = None) -> bytes:
        command = ["gpg", "--homedir", str(self.home), "--batch", "--quiet", "--yes", "--no-tty"]
        command += ["--pinentry-mode", "loopback", "--passphrase", ""]
        if self.signing_time is not None:
            command += ["--faked-system-time", f"{self.signing_time}!"]
        try:
            return subprocess.run([*command, *args], input=data, capture_output=True, check=True, timeout=60).stdout
        finally:
            # gpg leaves the gpg-agent it started for this home running; tests make many homes.
            self.close()

    def clearsign(self, data: bytes) -> bytes:
        return self._gpg("--local-user", self.fingerprint, "--digest-algo", "SHA256", "--clearsign", data=data)

    def detach_sign(self, data: bytes) -> bytes:
        return self._gpg("--local-user", self.fingerprint, "--armor", "--detach-sign", data=data)

    def revoke(self) -> None:
        """Revoke the key (with the certificate gpg made beside it) and export it again, revoked."""
        certificate = (self.home / "openpgp-revocs.d" / f"{self.fingerprint}.rev").read_bytes()
        # gpg guards the stored certificate with a leading colon against importing it by accident.
        self._gpg(
            "--import",
            data=certificate.replace(b":-----BEGIN PGP PUBLIC KEY BLOCK", b"-----BEGIN PGP PUBLIC KEY BLOCK"),
        )
        self.keyring.write_bytes(self._gpg("--export", self.fingerprint))

    def close(self) -> None:
        """Stop the gpg-agent of this home, if one runs (each gpg call does this after itself)."""
        stop_gpg_agent(self.home)
