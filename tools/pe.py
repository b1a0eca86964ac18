"""Small PE32+ images (UEFI applications) with chosen sections: the stand-in shims and GRUBs of generated
archives and the Secure Boot rules' tests, with the SBAT data real ones carry (shapes of Debian 12's shim 16.1
and GRUB 2.06-13+deb12u2)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

FILE_ALIGNMENT = 0x200
SECTION_ALIGNMENT = 0x1000
OPTIONAL_HEADER_BYTES = 240  # PE32+ with 16 data directories


def pe_image(sections: dict[str, bytes]) -> bytes:
    """A PE32+ EFI application holding `sections` (names over 8 bytes go to the COFF string table, as
    objcopy writes shim's .sbatlevel). It does not run; pefile and the PE/COFF specification accept it."""
    names = list(sections)
    strings = b""
    table_names = []
    for name in names:
        if len(name) > 8:
            table_names.append(f"/{4 + len(strings)}".encode())
            strings += name.encode() + b"\0"
        else:
            table_names.append(name.encode())
    headers = 0x40 + 4 + 20 + OPTIONAL_HEADER_BYTES + 40 * len(names)
    offset = _align(headers, FILE_ALIGNMENT)
    rva = SECTION_ALIGNMENT
    table, body = b"", b""
    for raw_name, name in zip(table_names, names, strict=True):
        data = sections[name]
        raw = _align(len(data), FILE_ALIGNMENT)
        table += struct.pack("<8sIIIIIIHHI", raw_name, len(data), rva, raw, offset + len(body), 0, 0, 0, 0, 0x40000040)
        body += data.ljust(raw, b"\0")
        rva += _align(max(len(data), 1), SECTION_ALIGNMENT)
    symbols_at = offset + len(body)
    coff = struct.pack("<HHIIIHH", 0x8664, len(names), 0, symbols_at, 0, OPTIONAL_HEADER_BYTES, 0x0022)
    optional = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B, 2, 0, 0, 0, 0, SECTION_ALIGNMENT, 0, 0, SECTION_ALIGNMENT, FILE_ALIGNMENT,
        0, 0, 0, 0, 0, 0, 0, rva, offset, 0, 10, 0, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    )  # fmt: skip
    optional += b"\0" * (OPTIONAL_HEADER_BYTES - len(optional))
    dos = b"MZ" + b"\0" * 0x3A + struct.pack("<I", 0x40)
    head = (dos + b"PE\0\0" + coff + optional + table).ljust(offset, b"\0")
    return head + body + struct.pack("<I", 4 + len(strings)) + strings


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def sbatlevel(automatic: str, latest: str) -> bytes:
    """shim's .sbatlevel section (layout: shim's sbat_var.S): version 0, two offsets, two payloads."""
    first = automatic.encode() + b"\0"
    return struct.pack("<III", 0, 8, 8 + len(first)) + first + latest.encode() + b"\0"


SBAT_HEAD = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
SHIM_SBAT = (
    SBAT_HEAD
    + "shim,4,UEFI shim,shim,1,https://github.com/rhboot/shim\nshim.debian,1,Debian,shim,16.1,https://example.org/shim\n"
)
OTHER_SHIM_SBAT = (
    SBAT_HEAD
    + "shim,4,UEFI shim,shim,1,https://github.com/rhboot/shim\nshim.debian,1,Debian,shim,15.8,https://example.org/shim\n"
)
# shim 16.1's levels: automatic 2025021800 (grub,5), latest 2025051000 (adds grub.proxmox,2).
AUTOMATIC = "sbat,1,2025021800\nshim,4\ngrub,5\n"
LATEST = "sbat,1,2025051000\nshim,4\ngrub,5\ngrub.proxmox,2\n"


def grub_sbat(generation: int, *extra: str) -> str:
    """A GRUB's .sbat: upstream grub at `generation`, a vendor line, and `extra` lines."""
    lines = [f"grub,{generation},Free Software Foundation,grub,2.06,https://www.gnu.org/software/grub/",
             f"grub.debian,{generation},Debian,grub2,2.06-13,https://example.org/grub2", *extra]  # fmt: skip
    return SBAT_HEAD + "\n".join(lines) + "\n"


def write_shim(path: Path, *, sbat: str = SHIM_SBAT, automatic: str = AUTOMATIC, latest: str = LATEST) -> Path:
    sections = {".text": b"\xc3", ".sbatlevel": sbatlevel(automatic, latest), ".sbat": sbat.encode()}
    path.write_bytes(pe_image(sections))
    return path


def write_image(path: Path, sbat: str | None) -> Path:
    """A GRUB or MokManager stand-in: a PE image with `sbat` as its .sbat section (None: no such section)."""
    path.write_bytes(pe_image({".text": b"\xc3", **({".sbat": sbat.encode()} if sbat is not None else {})}))
    return path


def vendor_cert(der: bytes) -> bytes:
    """shim's .vendor_cert section (shim.c struct cert_table) authorizing one DER certificate, revoking none."""
    return struct.pack("<IIII", len(der), 0, 16, 16 + len(der)) + der


def signing_key(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway self-signed signing key made by openssl: (key, PEM certificate) with subject CN=`name`."""
    key, certificate = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(certificate),
         "-subj", f"/CN={name}", "-days", "30"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, certificate


def der(certificate: Path) -> bytes:
    command = ["openssl", "x509", "-in", str(certificate), "-outform", "DER"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def kernel_image(path: Path, signed_with: tuple[Path, Path] | None) -> Path:
    """A PE image standing in for a kernel with its EFI stub, signed by sbsign with `signed_with` (or not)."""
    path.write_bytes(pe_image({".text": b"\xc3" * 600}))
    if signed_with is not None:
        key, certificate = signed_with
        subprocess.run(
            ["sbsign", "--key", str(key), "--cert", str(certificate), "--output", str(path), str(path)],
            check=True, capture_output=True,
        )  # fmt: skip
    return path


def stand_in_shim(tag: bytes) -> bytes:
    """A shim stand-in that passes pxeimport's Secure Boot judgement with `stand_in_grub`; `tag` makes it distinct."""
    return pe_image({".text": tag, ".sbatlevel": sbatlevel(AUTOMATIC, LATEST), ".sbat": SHIM_SBAT.encode()})


def stand_in_grub(tag: bytes, modules: tuple[str, ...] = ("efinet", "tftp")) -> bytes:
    """A GRUB stand-in at the generation shim 16.1's levels ask for, with `modules` built in (Debian 12's
    network GRUB has tftp, not http); `tag` makes it distinct."""
    return pe_image({".text": tag, "mods": grub_mods(modules), ".sbat": grub_sbat(5).encode()})


def grub_mods(modules: tuple[str, ...]) -> bytes:
    """GRUB's `mods` section (include/grub/kernel.h): struct grub_module_info64, then one ELF object per module,
    each a minimal ELF64 relocatable file whose `.modname` section names it."""
    objects = b""
    for name in modules:
        elf = _elf_module(name)
        objects += struct.pack("<II", 0, 8 + len(elf)) + elf
    return b"mimg" + struct.pack("<IQQ", 0, 24, len(objects)) + objects


def _elf_module(name: str) -> bytes:
    """An ELF64 little-endian relocatable object with the sections null, .shstrtab and .modname only."""
    names = b"\0.shstrtab\0.modname\0"
    modname = name.encode() + b"\0"
    data_at = 64
    headers_at = data_at + len(names) + len(modname)
    header = (
        b"\x7fELF"
        + bytes([2, 1, 1])
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, headers_at, 0, 64, 0, 0, 64, 3, 1)
    )
    sections = bytes(64)  # the null section
    sections += struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, data_at, len(names), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 11, 1, 0, 0, data_at + len(names), len(modname), 0, 0, 1, 0)
    return header + names + modname + sections
