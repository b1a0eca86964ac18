"""The modules built into a GRUB EFI image, read from its `mods` section: what the GRUB can do before it reads
any file (a network GRUB without `http` cannot fetch its menu over HTTP, whatever the firmware booted it by).

Layout (GRUB's include/grub/kernel.h and util/mkimage.c): the section starts with `struct grub_module_info`
(magic "mimg", then the offset and size of the objects, u32 on 32-bit images, u64 on 64-bit); each object is
`struct grub_module_header` (u32 type, u32 size including the header), type 0 an ELF relocatable module whose
`.modname` section holds its name (util/grub-module-verifier and gentpl add it).
"""

from __future__ import annotations

import struct
from pathlib import Path

from pxeimport.secureboot.pe import read_section

MODULE_INFO_MAGIC = b"mimg"
OBJ_TYPE_ELF = 0


def grub_modules(path: Path) -> set[str] | None:
    """The names of the modules built into the GRUB image at `path`; None when it has no `mods` section (not a
    GRUB). PeError when it is no whole PE image."""
    data = read_section(path, "mods")
    if data is None or data[:4] != MODULE_INFO_MAGIC:
        return None
    wide = struct.unpack_from("<I", data, 4)[0] == 0 and len(data) >= 24  # info64: magic, padding, u64, u64
    offset, size = struct.unpack_from("<QQ", data, 8) if wide else struct.unpack_from("<II", data, 4)
    names, at, end = set(), offset, min(len(data), offset + size)
    while at + 8 <= end:
        kind, length = struct.unpack_from("<II", data, at)
        if length < 8:
            break
        if kind == OBJ_TYPE_ELF:
            name = _modname(data[at + 8 : at + length])
            if name:
                names.add(name)
        at += length
    return names


# ELF header: where the section headers are (e_shoff) and their size, count and names' index; a section header:
# sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size (System V ABI, ELF-64 Object File Format).
_ELF = {1: ("<I", 0x20, 0x2E, "<IIIIII"), 2: ("<Q", 0x28, 0x3A, "<IIQQQQ")}  # by EI_CLASS: 32- or 64-bit


def _modname(elf: bytes) -> str | None:
    """The `.modname` of one ELF module (32- or 64-bit, little-endian), or None when it cannot be read."""
    if elf[:4] != b"\x7fELF" or len(elf) < 64 or elf[4] not in _ELF:
        return None
    offset_format, offset_at, counts_at, header_format = _ELF[elf[4]]
    try:
        (shoff,) = struct.unpack_from(offset_format, elf, offset_at)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, counts_at)
        headers = [struct.unpack_from(header_format, elf, shoff + i * shentsize) for i in range(shnum)]
        names = headers[shstrndx]
        table = elf[names[4] : names[4] + names[5]]
        for header in headers:
            if table[header[0] : table.find(b"\0", header[0])] == b".modname":
                return elf[header[4] : header[4] + header[5]].split(b"\0", 1)[0].decode("ascii", errors="replace")
    except (struct.error, IndexError):
        return None
    return None
