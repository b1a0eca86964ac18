"""A served kernel that the served shim would not let GRUB boot is named before any node tries it (issue 23
item 4; shim issue #138's case: one vendor's shim, another vendor's kernel)."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pytest

from pxeimport.models import ImportRun
from pxeimport.secureboot.kernels import EFI_CERT_X509, unverified, vendor_certificates
from tests.support.requirements import require_tool
from tests.support.selection import import_files, saved_source
from tools.archive import netboot_files
from tools.pe import (
    AUTOMATIC,
    LATEST,
    SHIM_SBAT,
    der,
    grub_sbat,
    kernel_image,
    pe_image,
    sbatlevel,
    signing_key,
    vendor_cert,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    require_tool("openssl")
    require_tool("sbsign")
    require_tool("sbverify")
    directory = tmp_path_factory.mktemp("keys")
    return {name: signing_key(directory, name) for name in ("Debian Test CA", "Other Vendor CA")}


def shim_with(certificate: bytes) -> bytes:
    return pe_image({".sbatlevel": sbatlevel(AUTOMATIC, LATEST), ".vendor_cert": vendor_cert(certificate),
                     ".sbat": SHIM_SBAT.encode()})  # fmt: skip


def test_a_shims_vendor_certificate_is_read_from_its_vendor_cert_section(tmp_path, keys):
    certificate = der(keys["Debian Test CA"][1])
    (tmp_path / "bootx64.efi").write_bytes(shim_with(certificate))
    assert vendor_certificates(tmp_path / "bootx64.efi") == [certificate]


def test_a_vendor_db_of_several_certificates_is_read_as_an_efi_signature_list(tmp_path, keys):
    certificates = [der(keys[name][1]) for name in sorted(keys)]
    owner = uuid.uuid4().bytes_le
    lists = b"".join(
        struct.pack("<16sIII", EFI_CERT_X509.bytes_le, 28 + 16 + len(c), 0, 16 + len(c)) + owner + c
        for c in certificates
    )
    (tmp_path / "bootx64.efi").write_bytes(pe_image({".vendor_cert": vendor_cert(lists)}))
    assert vendor_certificates(tmp_path / "bootx64.efi") == certificates


def test_a_kernel_signed_by_the_vendor_passes_and_one_signed_by_another_is_named_with_its_signer(tmp_path, keys):
    vendor = [der(keys["Debian Test CA"][1])]
    assert unverified(kernel_image(tmp_path / "ours", keys["Debian Test CA"]), vendor) is None
    assert unverified(kernel_image(tmp_path / "theirs", keys["Other Vendor CA"]), vendor) == "/CN=Other Vendor CA"
    assert unverified(kernel_image(tmp_path / "unsigned", None), vendor) == "no signature"


@pytest.mark.django_db
def test_a_run_names_each_served_kernel_the_served_shim_would_refuse_before_any_node_tries_it(
    tmp_path, keys, archive, archive_server, signer, tftp_root
):
    shim = shim_with(der(keys["Debian Test CA"][1]))
    for release, key in (("bookworm", "Debian Test CA"), ("trixie", "Other Vendor CA")):
        files = netboot_files(f"{release}-amd64", uefi=True)
        files["bootnetx64.efi"], files["mmx64.efi"] = shim, pe_image({".sbat": SHIM_SBAT.encode()})
        files["grubx64.efi"] = pe_image({".sbat": grub_sbat(5).encode()})
        files["linux"] = kernel_image(tmp_path / f"{release}-linux", keys[key]).read_bytes()
        archive.publish(release, "amd64", files)
    saved_source(archive_server.url + "dists/", signer.keyring, releases=("bookworm", "trixie"))

    result = import_files(tftp_root)

    assert result.code == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("Warning: amd64/")]
    assert said == [
        "Warning: amd64/trixie: its kernel linux is signed by /CN=Other Vendor CA, not by the vendor certificate "
        "bootnetx64.efi carries: Secure Boot nodes stop at GRUB's 'bad shim signature'"
    ]
    assert said[0].removeprefix("Warning: ") in ImportRun.objects.latest("pk").warnings
