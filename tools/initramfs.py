"""An installer initrd that says which one it is: Debian's real initrd with its /init announcing a name first.

Linux unpacks an initramfs made of several cpio archives, each compressed on its own and simply
concatenated, in order, a later file replacing an earlier one of the same name (the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst). So one archive appended to the
real initrd, holding its own /init with an `echo` put after the first line, is enough: the
node prints the name on its console (/init's output goes to the kernel's console) and then
boots on as before. The format is cpio's "newc" (SVR4 with no CRC), the one the kernel reads.
"""

from __future__ import annotations

import gzip
from pathlib import Path

NEWC_MAGIC = b"070701"
_FIELDS = 13  # ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
TRAILER = "TRAILER!!!"


def announcing(initrd: Path, banner: str) -> bytes:
    """`initrd` (a gzip-compressed newc cpio, as Debian's netboot initrd.gz) with an archive appended
    whose /init echoes `banner` before the original /init's commands. ValueError if it has no /init."""
    original = newc_members(gzip.decompress(initrd.read_bytes()))
    if "init" not in original:
        raise ValueError(f"{initrd} has no /init")
    shebang, _, rest = original["init"].partition(b"\n")
    init = shebang + b"\necho '" + banner.encode() + b"'\n" + rest
    return initrd.read_bytes() + gzip.compress(newc_archive({"init": init}), mtime=0)


def newc_members(archive: bytes) -> dict[str, bytes]:
    """{name: content} of the files and symlinks in newc cpio archives one after the other, as Linux
    unpacks them: a later member replaces an earlier one; NULs between archives are skipped."""
    members: dict[str, bytes] = {}
    offset = 0
    while offset < len(archive):
        if archive[offset] == 0:
            offset += 4  # padding after a trailer (cpio pads its output to 512 bytes)
            continue
        if archive[offset : offset + 6] != NEWC_MAGIC:
            raise ValueError(f"not a newc cpio header at byte {offset}")
        fields = [int(archive[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(_FIELDS)]
        size, name_size = fields[6], fields[11]
        name = archive[offset + 110 : offset + 110 + name_size - 1].decode()
        data = _padded(offset + 110 + name_size)
        if name != TRAILER:
            members[name] = archive[data : data + size]
        offset = _padded(data + size)
    return members


def newc_archive(files: dict[str, bytes]) -> bytes:
    """A newc cpio archive of regular files {name: content}, mode 0755, owned by root, with its trailer."""
    out = bytearray()
    for number, (name, content) in enumerate([*files.items(), (TRAILER, b"")], start=1):
        mode = 0o100755 if name != TRAILER else 0
        encoded = name.encode() + b"\0"
        fields = [number, mode, 0, 0, 1, 0, len(content), 0, 0, 0, 0, len(encoded), 0]
        out += NEWC_MAGIC + b"".join(b"%08X" % field for field in fields) + encoded
        out += b"\0" * (_padded(len(out)) - len(out)) + content
        out += b"\0" * (_padded(len(out)) - len(out))
    return bytes(out)


def _padded(offset: int) -> int:
    return (offset + 3) & ~3
