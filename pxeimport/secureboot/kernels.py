"""Whether the shim a root serves would let GRUB boot a kernel: the kernel's Authenticode signature checked
against the certificates the shim carries, with sbverify (sbsigntool).

shim's `.vendor_cert` section (shim.c `struct cert_table`, cert.S) starts with four little-endian u32: the
sizes and offsets of the vendor's authorized data and of its revocations. The authorized data is one DER
X.509 certificate (Debian's "Debian Secure Boot CA", Canonical's master CA) or, built with VENDOR_DB_FILE,
an EFI_SIGNATURE_LIST of them (UEFI 2.10, 32.4.1). GRUB asks shim to verify each kernel (shim_lock) and
stops with "bad shim signature" when it is not signed by one of them or by the firmware's db.
Not judged here: the firmware's db (Microsoft's UEFI CA signs shims, not kernels) and the MOK list a
node's owner enrolled; the vendor's revocations (`vendor_dbx`).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import uuid
from pathlib import Path

from pxeimport.secureboot.pe import read_section

EFI_CERT_X509 = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
ESL_HEADER = struct.Struct("<16sIII")  # SignatureType, SignatureListSize, SignatureHeaderSize, SignatureSize
SBVERIFY_SECONDS = 60
NO_SIGNATURE = "no signature"


def vendor_certificates(shim: Path) -> list[bytes]:
    """The DER certificates a shim trusts for what it loads, from its `.vendor_cert`; [] when it has none."""
    data = read_section(shim, ".vendor_cert")
    if data is None or len(data) < 16:
        return []
    size, _, offset, _ = struct.unpack_from("<IIII", data)
    blob = data[offset : offset + size]
    if blob[:1] == b"\x30":  # an ASN.1 SEQUENCE: one DER certificate
        return [blob]
    certificates = []
    while len(blob) >= ESL_HEADER.size:
        kind, list_size, header_size, signature_size = ESL_HEADER.unpack_from(blob)
        if list_size < ESL_HEADER.size or signature_size <= 16:
            break
        entries = blob[ESL_HEADER.size + header_size : list_size]
        if uuid.UUID(bytes_le=kind) == EFI_CERT_X509:
            certificates += [entries[i + 16 : i + signature_size] for i in range(0, len(entries), signature_size)]
        blob = blob[list_size:]
    return certificates


def is_pe_image(path: Path) -> bool:
    """Whether `path` starts as a PE image does ("MZ"): an x86 or arm64 Linux kernel with its EFI stub does."""
    with path.open("rb") as f:
        return f.read(2) == b"MZ"


def unverified(kernel: Path, certificates: list[bytes]) -> str | None:
    """None when `kernel` is signed by one of `certificates` (or cannot be judged: sbverify missing, no
    certificates); otherwise what it is signed by, for the message (NO_SIGNATURE when unsigned)."""
    sbverify = shutil.which("sbverify")
    if sbverify is None or not certificates:
        return None
    with tempfile.TemporaryDirectory(prefix="pxeimport-sbverify-") as scratch:
        for index, certificate in enumerate(certificates):
            pem = Path(scratch) / f"{index}.pem"
            pem.write_text(_pem(certificate))
            checked = subprocess.run(
                [sbverify, "--cert", str(pem), str(kernel)], capture_output=True, timeout=SBVERIFY_SECONDS
            )
            if checked.returncode == 0:
                return None
    listed = subprocess.run([sbverify, "--list", str(kernel)], capture_output=True, text=True, timeout=SBVERIFY_SECONDS)
    subjects = [line.split("subject:", 1)[1].strip() for line in listed.stdout.splitlines() if "subject:" in line]
    return ", ".join(subjects) if subjects else NO_SIGNATURE


def _pem(der: bytes) -> str:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
