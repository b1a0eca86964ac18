"""Which boot file each kind of network-booting client gets from a TFTP root, read from what it serves.

A client says what it is in DHCP option 93, its client system architecture (RFC 4578 section 2.1; the
values are IANA's "Processor Architecture Types" registry): 0 BIOS x86, 6 UEFI IA32, 7 and 9 UEFI x86-64
(firmware sends either), 11 UEFI ARM64, 16 UEFI x86-64 and 19 UEFI ARM64 booting over HTTP (UEFI 2.5
section 24.7, with option 60 "HTTPClient"). BIOS clients load pxelinux.0; UEFI clients the shim, which
loads GRUB from beside it; so a loader is only offered when its companion is served too
(pxeimport.layouts.base.LOADER_NEEDS says the same for the import). Over HTTP, GRUB fetches its menu and the
kernel with its own network stack: HTTP boot is offered only when the served GRUB has GRUB's `http` module
built in (Debian 12's signed network GRUB has `tftp` only: booted over HTTP it stops at its prompt).
"""

from __future__ import annotations

from dataclasses import dataclass

from pxeimport.secureboot import PeError, grub_modules
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
    `http_url` (where the TFTP root is served over HTTP, at the server's root: contrib/nginx/pxeimport-boot)."""
    found = []
    live = set(root.arches(retired=False))  # a retired arch's loaders wait out the grace period, off every menu
    for client_arch, (what, arches, loaders, companion) in CLIENT_ARCHES.items():
        if client_arch in HTTP_CLIENT_ARCHES and not http_url:
            continue
        path = _served(root, tuple(a for a in arches if a in live), loaders, companion)
        if path is None or (client_arch in HTTP_CLIENT_ARCHES and _http_missing(root, path, companion)):
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


def http_left_out(root: TftpRoot, http_url: str) -> list[str]:
    """Why each HTTP boot client arch whose shim is served is not offered, one sentence each; [] without `http_url`."""
    reasons = []
    live = set(root.arches(retired=False))
    for client_arch in sorted(HTTP_CLIENT_ARCHES) if http_url else []:
        what, arches, loaders, companion = CLIENT_ARCHES[client_arch]
        path = _served(root, tuple(a for a in arches if a in live), loaders, companion)
        missing = _http_missing(root, path, companion) if path else None
        if missing:
            reasons.append(f"{what} (option 93 = {client_arch}) left out: {missing}")
    return reasons


def _http_missing(root: TftpRoot, loader_path: str, companion: str) -> str | None:
    """None when the GRUB beside `loader_path` can read HTTP; else why not."""
    grub = root.path / loader_path.rsplit("/", 1)[0] / companion
    try:
        modules = grub_modules(grub)
    except (PeError, OSError) as exc:
        return f"{companion} cannot be read as a GRUB image ({exc})"
    if modules is None:
        return f"{companion} has no module list (no 'mods' section): not a GRUB image pxeimport can judge"
    if "http" not in modules:
        return (
            f"{loader_path.rsplit('/', 1)[0]}/{companion} has no http module built in: booted over HTTP it could not "
            "fetch its menu (UEFI nodes still boot over TFTP, option 93 = 7, 9, 11)"
        )
    return None
