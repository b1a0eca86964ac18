"""The region's OpenPGP key: made with gpg on first use, signs the publication racks verify with gpgv.

The key lives in its own GNUPGHOME (PXEIMPORT_REGION_GNUPGHOME, 0700), an Ed25519 signing key
without a passphrase (the region signs unattended, after each import; guard the directory as you
would an SSH host key). Racks trust it through the public keyring `export_keyring` writes, a
binary OpenPGP keyring as `gpgv --keyring` takes it. gpg itself does the cryptography; this
module only runs it (GnuPG's doc/DETAILS for --with-colons).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pxeimport.files import write_atomic

GPG = "gpg"
TIMEOUT_SECONDS = 120
DEFAULT_UID = "pxeimport region <region@pxeimport.invalid>"


class RegionKeyError(Exception):
    """gpg is missing, or could not make, find or use the region's key."""


class RegionKey:
    """The signing key in `home`. `fingerprint` makes it when there is none (under a lock, once).

    gpg (2.1 and later) does all secret-key work in a gpg-agent it starts for `home` and leaves
    running. The region signs a few times per import, so each public method is one session under
    the home's lock that stops that agent when it is done (`gpgconf --kill`, some 20 ms): an import
    run from cron leaves no daemon behind, and no process stops the agent while another signs.
    """

    def __init__(self, home: Path, uid: str = DEFAULT_UID) -> None:
        self.home = home
        self.uid = uid

    def fingerprint(self) -> str:
        """The key's fingerprint (40 hex digits), making the key first if `home` has none."""
        with self._session():
            return self._fingerprint()

    def clearsign(self, data: bytes) -> bytes:
        """`data` clearsigned (SHA-256) by the region's key, as `gpgv` checks it."""
        with self._session():
            fingerprint = self._fingerprint()
            return self._gpg("--local-user", fingerprint, "--digest-algo", "SHA256", "--clearsign", data=data)

    def public_keyring(self) -> bytes:
        """The public key as a binary keyring, for racks' `--keyring`."""
        with self._session():
            return self._gpg("--export", self._fingerprint())

    def export_keyring(self, path: Path) -> str:
        """Write the public keyring to `path` (atomically, 0644); return the fingerprint."""
        with self._session():
            fingerprint = self._fingerprint()
            write_atomic(path, self._gpg("--export", fingerprint))
        return fingerprint

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Hold `home`'s lock for a series of gpg calls; stop the gpg-agent they started at the end."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        with open(self.home / ".pxeimport-keygen.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two first runs at once must not make two keys
            try:
                yield
            finally:
                self._stop_agent()

    def _fingerprint(self) -> str:
        """Within a session: the key's fingerprint, making the key if there is none."""
        found = self._secret_fingerprints()
        if not found:
            self._gpg("--quick-generate-key", self.uid, "ed25519", "sign", "never")
            found = self._secret_fingerprints()
        if not found:
            raise RegionKeyError(f"gpg made no signing key in {self.home}")
        return found[0]

    def _stop_agent(self) -> None:
        """Ask `home`'s gpg-agent, if one runs, to exit (gpgconf ships with gpg; a failure only leaves it)."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf is None:
            return
        with suppress(subprocess.TimeoutExpired):
            subprocess.run(
                [gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"],
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )

    def _secret_fingerprints(self) -> list[str]:
        listing = self._gpg("--with-colons", "--list-secret-keys").decode()
        # "sec" opens a secret key; the first "fpr" line after it is the primary key's fingerprint.
        found, want = [], False
        for line in listing.splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                want = True
            elif fields[0] == "fpr" and want:
                found.append(fields[9])
                want = False
        return found

    def _gpg(self, *args: str, data: bytes | None = None) -> bytes:
        gpg = shutil.which(GPG)
        if gpg is None:
            raise RegionKeyError("gpg is not installed (Debian package gnupg); the region needs it to sign")
        command = [gpg, "--homedir", str(self.home), "--batch", "--quiet", "--yes", "--no-tty"]
        command += ["--pinentry-mode", "loopback", "--passphrase", ""]
        try:
            result = subprocess.run(
                [*command, *args], input=data, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RegionKeyError(f"gpg {args[0]} timed out after {TIMEOUT_SECONDS} s in {self.home}") from exc
        if result.returncode != 0:
            detail = " ".join(result.stderr.decode(errors="replace").split())[:300]
            raise RegionKeyError(f"gpg {args[0]} failed in {self.home} (exit {result.returncode}): {detail}")
        return result.stdout
