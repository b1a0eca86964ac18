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
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from pxeimport.lib import write_atomic

GPG = "gpg"
TIMEOUT_SECONDS = 120
AGENT_EXIT_SECONDS = 10
DEFAULT_UID = "pxeimport region <region@pxeimport.invalid>"


class RegionKeyError(Exception):
    """gpg is missing, or could not make, find or use the region's key."""


def stop_gpg_agent(home: Path) -> None:
    """Stop the gpg-agent serving GNUPGHOME `home`, if one runs, and return once it has exited.

    `gpgconf --kill` returns when the agent has been told; until it exits its socket still takes
    connections it never serves, and a gpg started meanwhile fails ("signing failed: Broken pipe",
    seen about once in 400 back-to-back signatures). So this waits, up to AGENT_EXIT_SECONDS, until
    the socket refuses connections or is gone. Without gpgconf (it ships with gpg) nothing is done.
    """
    gpgconf = shutil.which("gpgconf")
    if gpgconf is None:
        return
    try:
        where = _run([gpgconf, "--homedir", str(home), "--list-dirs", "agent-socket"]).decode().strip()
        _run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"])
    except subprocess.TimeoutExpired:
        return
    path = unquote(where)  # gpgconf percent-escapes some characters of its paths
    deadline = time.monotonic() + AGENT_EXIT_SECONDS
    while path and _listening(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def _run(command: list[str]) -> bytes:
    return subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False).stdout


def _listening(path: str) -> bool:
    """Whether a Unix socket at `path` takes connections (an exiting agent's does until it is gone)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


class RegionKey:
    """The signing key in `home`. `fingerprint` makes it when there is none (under a lock, once).

    gpg (2.1 and later) does all secret-key work in a gpg-agent it starts for `home` and leaves
    running. The region signs a few times per import, so each public method is one session under
    the home's lock that stops that agent when it is done (`stop_gpg_agent`, some 20 ms): an import
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
                stop_gpg_agent(self.home)

    def _fingerprint(self) -> str:
        """Within a session: the key's fingerprint, making the key if there is none."""
        found = self._fingerprints("--list-secret-keys", "sec")
        if not found:
            # gpg lists secret keys through its agent: trouble there must not make a second key.
            if self._fingerprints("--list-keys", "pub"):
                raise RegionKeyError(
                    f"gpg lists a public key in {self.home} but not its secret key (gpg-agent trouble, or "
                    "private-keys-v1.d lost); no new key is made, as racks trust the old one"
                )
            self._gpg("--quick-generate-key", self.uid, "ed25519", "sign", "never")
            found = self._fingerprints("--list-secret-keys", "sec")
        if not found:
            raise RegionKeyError(f"gpg made no signing key in {self.home}")
        return found[0]

    def _fingerprints(self, listing: str, record: str) -> list[str]:
        """Primary keys' fingerprints from `gpg --with-colons <listing>`; `record` opens a key ("sec", "pub")."""
        return _primary_fingerprints(self._gpg("--with-colons", listing).decode(), record)

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


def keyring_fingerprint(keyring: Path) -> str:
    """The fingerprint (40 hex digits) of the first key in `keyring`, a keyring file as export_keyring writes
    it and racks take with --keyring. gpg reads it in a throw-away home (`--show-keys`, nothing imported).
    RegionKeyError when gpg is missing or finds no key in the file."""
    with tempfile.TemporaryDirectory(prefix="pxeimport-gpg-") as home:
        try:
            text = RegionKey(Path(home))._gpg("--with-colons", "--show-keys", str(keyring)).decode()
        finally:
            stop_gpg_agent(Path(home))
    found = _primary_fingerprints(text, "pub")
    if not found:
        raise RegionKeyError(f"{keyring}: gpg finds no public key in it")
    return found[0]


def _primary_fingerprints(listing: str, record: str) -> list[str]:
    """Each key's primary fingerprint in gpg's --with-colons `listing`: the first "fpr" line after each
    line of type `record` ("sec", "pub"), GnuPG's doc/DETAILS."""
    found, want = [], False
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == record:
            want = True
        elif fields[0] == "fpr" and want:
            found.append(fields[9])
            want = False
    return found
