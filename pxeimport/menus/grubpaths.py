"""GRUB's fixed paths: the prefixes signed network GRUBs read their grub.cfg from, and the line that hands
one over to an arch's pxeimport menu (`configfile`). BootMenus writes the redirects; this says what they say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pxeimport.tftproot import MAAS_DIR

GRUB_MENU = "grub/grub.cfg"
# Debian arch names -> GRUB's $grub_cpu.
GRUB_CPUS = {"amd64": "x86_64", "i386": "i386", "arm64": "arm64", "riscv64": "riscv64", "loong64": "loongarch64"}


def grub_prefixes(arches: Sequence[str]) -> dict[str, list[str]]:
    """{prefix below the root: the arches whose GRUBs read it}, for signed network GRUBs.

    Found in Debian 12's grub-efi-amd64-signed 1+2.06+13+deb12u2 (`strings`): grubnetx64.efi.signed
    has the prefix /grub, grubnetx64-installer.efi.signed (the netboot tarball's grubx64.efi)
    /debian-installer/amd64/grub; both embed "if [ -e $prefix/x86_64-efi/grub.cfg ]; then source
    it; else source $prefix/grub.cfg", and over TFTP `-e` is false (grub-core/net/net.c's
    grub_net_fs_dir lists nothing; an OVMF boot with a file there showed pxeimport's menu), so
    $prefix/grub.cfg is what they read. Ubuntu's grubnetx64 has /grub too (not checked here).
    """
    prefixes = {f"debian-installer/{arch}/grub": [arch] for arch in arches}
    return {"grub": list(arches), **prefixes} if arches else {}


def follows(text: str, arches: Sequence[str]) -> bool:
    """Whether a grub.cfg hands over to one of `arches`' pxeimport menus with `configfile`."""
    menus = "|".join(re.escape(f"/{MAAS_DIR}/{arch}/base/{GRUB_MENU}") for arch in arches)
    return re.search(rf"^\s*(?:if .*then\s+)?configfile\s+\S*(?:{menus})(?=[\s;]|$)", text, re.MULTILINE) is not None


def follow_line(arch: str, *, several: bool) -> str:
    line = f"configfile /{MAAS_DIR}/{arch}/base/{GRUB_MENU}"
    return f'if [ "$grub_cpu" = "{GRUB_CPUS.get(arch, arch)}" ]; then {line}; fi' if several else line
