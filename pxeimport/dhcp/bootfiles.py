"""Which boot file each kind of network-booting client gets from a TFTP root, read from what it serves.

A client says what it is in DHCP option 93, its client system architecture (RFC 4578 section 2.1; the
values are IANA's "Processor Architecture Types" registry): 0 BIOS x86, 6 UEFI IA32, 7 and 9 UEFI x86-64
(firmware sends either), 11 UEFI ARM64, 16 UEFI x86-64 and 19 UEFI ARM64 booting over HTTP (UEFI 2.5
section 24.7, with option 60 "HTTPClient"). BIOS clients load pxelinux.0; UEFI clients the shim, which
loads GRUB from beside it; so a loader is only offered when its companion is served too
(pxeimport.layouts.base.LOADER_NEEDS says the same for the import).
"""

from __future__ import annotations

from dataclasses import dataclass

from pxeimport.tftproot import MAAS_DIR, TftpRoot

# option 93 value -> (what it is, the arches whose loaders may serve it, loader names in order of choice,
# the companion each needs). BIOS clients do not say 32 or 64 bits: amd64's pxelinux.0 first.
CLIENT_ARCHES: dict[int, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    0: ("BIOS", ("amd64", "i386"), ("pxelinux.0",), "ldlinux.c32"),
    6: ("UEFI IA32", ("i386",), ("bootia32.efi", "bootnetia32.efi"), "grubia32.efi"),
    7: ("UEFI x86-64", ("amd64",), ("bootx64.efi", "bootnetx64.efi"), "grubx64.efi"),
    9: ("UEFI x86-64", ("amd64",), ("bootx64.efi", "bootnetx64.efi"), "grubx64.efi"),
    11: ("UEFI ARM64", ("arm64",), ("bootaa64.efi", "bootnetaa64.efi"), "grubaa64.efi"),
    16: ("UEFI x86-64 HTTP boot", ("amd64",), ("bootx64.efi", "bootnetx64.efi"), "grubx64.efi"),
    19: ("UEFI ARM64 HTTP boot", ("arm64",), ("bootaa64.efi", "bootnetaa64.efi"), "grubaa64.efi"),
}
HTTP_CLIENT_ARCHES = frozenset({16, 19})


@dataclass(frozen=True)
class BootFile:
    """What a client of option 93 value `client_arch` is given: `path` relative to the TFTP root, or over
    HTTP the `url` (then the DHCP answer also carries option 60 "HTTPClient")."""

    client_arch: int
    what: str
    path: str
    url: str = ""

    @property
    def http(self) -> bool:
        return bool(self.url)

    @property
    def name(self) -> str:
        """The boot file name the DHCP answer carries: the URL over HTTP, else the path."""
        return self.url or self.path


def boot_files(root: TftpRoot, http_url: str = "") -> list[BootFile]:
    """One BootFile per client architecture the root can boot, in option 93 order; HTTP boot only with
    `http_url` (where the TFTP root is served over HTTP, e.g. contrib/nginx/pxeimport-boot's /tftp/)."""
    found = []
    for client_arch, (what, arches, loaders, companion) in CLIENT_ARCHES.items():
        if client_arch in HTTP_CLIENT_ARCHES and not http_url:
            continue
        path = _served(root, arches, loaders, companion)
        if path is None:
            continue
        url = f"{http_url.rstrip('/')}/{path}" if client_arch in HTTP_CLIENT_ARCHES else ""
        found.append(BootFile(client_arch, what, path, url))
    return found


def _served(root: TftpRoot, arches: tuple[str, ...], loaders: tuple[str, ...], companion: str) -> str | None:
    for arch in arches:
        served = root.served_loaders(arch)
        for loader in loaders:
            if loader in served and companion in served:
                return f"{MAAS_DIR}/{arch}/base/{loader}"
    return None
