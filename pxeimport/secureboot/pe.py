"""Named sections of a PE/COFF image (a UEFI application: shim, GRUB, MokManager), read with pefile.

Section names longer than eight bytes (shim's `.sbatlevel`, `.vendor_cert`) are stored as "/<offset>"
into the COFF string table, which follows the symbol table (PE/COFF specification, "Section Table",
Name field); pefile leaves them unresolved, so `read_section` resolves them itself.
"""

from __future__ import annotations

from pathlib import Path

import pefile

# A symbol table record is 18 bytes (PE/COFF specification, "COFF Symbol Table").
SYMBOL_RECORD_BYTES = 18


class PeError(ValueError):
    """The file is not a PE/COFF image (a loader that is no UEFI application, or a truncated one)."""


def read_section(path: Path, name: str) -> bytes | None:
    """The bytes of section `name` (its virtual size, at most its raw size), or None when the image has none.

    PeError when `path` is not a PE/COFF image. The whole image is read: loaders are a few MB at most.
    """
    try:
        image = pefile.PE(str(path), fast_load=True)
    except pefile.PEFormatError as exc:
        raise PeError(f"{path.name} is not a PE/COFF image (a UEFI application): {exc}") from exc
    try:
        data: bytes = image.__data__
        for section in image.sections:  # a cut download or a damaged copy: its sections run past the end
            if section.PointerToRawData + section.SizeOfRawData > len(data):
                raise PeError(f"{path.name}: its sections run past the end of the file (truncated?)")
        for section in image.sections:
            if _section_name(section.Name, data, image.FILE_HEADER) != name:
                continue
            size = min(section.Misc_VirtualSize or section.SizeOfRawData, section.SizeOfRawData)
            return bytes(data[section.PointerToRawData : section.PointerToRawData + size])
        return None
    finally:
        image.close()


def _section_name(raw: bytes, data: bytes, header: pefile.Structure) -> str:
    """A section table Name: the 8 bytes themselves, or the string table entry "/<decimal offset>" points at."""
    short = raw.rstrip(b"\0").decode("ascii", errors="replace")
    if not short.startswith("/") or not short[1:].isdigit():
        return short
    table = header.PointerToSymbolTable + header.NumberOfSymbols * SYMBOL_RECORD_BYTES
    start = table + int(short[1:])
    end = data.find(b"\0", start)
    if not header.PointerToSymbolTable or start >= len(data) or end < 0:
        return short
    return bytes(data[start:end]).decode("ascii", errors="replace")
