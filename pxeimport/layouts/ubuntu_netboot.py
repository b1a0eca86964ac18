"""Ubuntu's current netboot layout: <url>/<codename>/ubuntu-<version>-netboot-<arch>.tar.gz.

Since 23.10 Ubuntu publishes, per release directory (https://releases.ubuntu.com/<codename>/),
the live-server ISO and a netboot tarball named for the point release, with SHA256SUMS
(`<sha256> *<file>`) and its detached signature SHA256SUMS.gpg. The tarball holds `./<arch>/`:
linux, initrd, pxelinux.0, ldlinux.c32, the shim and GRUB, and boot configs. The installer it
boots downloads the ISO at boot (`iso-url=`), holding it in RAM. Releases before 23.10 (jammy)
have no tarball; their images are the debian-installer layout's (up to focal) or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pxeimport.items import Item, ItemKind
from pxeimport.layouts.base import Layout, LayoutError, RemoteFile, Wanted, not_offered_arch
from pxeimport.layouts.releases import supported_releases
from pxeimport.lib import Once, check_name
from pxeimport.trust import parse_sha256sums

NAME = "ubuntu-netboot"
INDEX_NAME = "SHA256SUMS"
SIGNATURE_NAME = "SHA256SUMS.gpg"
FIRST_VERSION = (23, 10)

# Name in the TFTP root -> name inside ./<arch>/ of the tarball.
INSTALL_MEMBERS = {"linux": "linux", "initrd": "initrd"}
LOADER_MEMBERS = {
    "amd64": ("pxelinux.0", "ldlinux.c32", "bootx64.efi", "grubx64.efi"),
    "arm64": ("bootaa64.efi", "grubaa64.efi"),
}
# What the kernel needs to fetch the ISO into RAM and start the installer from it.
RAMDISK_SIZE_KB = 1500000
BOOT_OPTIONS = "root=/dev/ram0 ramdisk_size={size} ip=dhcp iso-url={iso_url}"


def release_url(archive: str, release: str) -> str:
    """The per-release directory, with a trailing slash."""
    return f"{archive.rstrip('/')}/{check_name('release', release)}/"


@dataclass(frozen=True)
class NetbootRelease:
    """What one release directory's SHA256SUMS offers for one arch."""

    url: str
    arch: str
    version: str
    tarball: RemoteFile
    iso_name: str
    iso_sha256: str

    def iso_url(self, iso_base_url: str | None = None) -> str:
        base = (iso_base_url.rstrip("/") + "/") if iso_base_url else self.url
        return base + self.iso_name

    def boot_options(self, iso_base_url: str | None = None) -> str:
        return BOOT_OPTIONS.format(size=RAMDISK_SIZE_KB, iso_url=self.iso_url(iso_base_url))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_index(text: str, *, url: str, arch: str) -> NetbootRelease:
    """The newest point release whose ISO and netboot tarball for `arch` SHA256SUMS lists.

    LayoutError when the directory has no live-server ISO for `arch`, or lists the ISO but not
    its netboot tarball (Ubuntu publishes it only from 23.10; its checksum must be signed).
    """
    check_name("architecture", arch)
    entries = parse_sha256sums(text, source=url + INDEX_NAME)
    iso_re = re.compile(rf"ubuntu-(\d+\.\d+(?:\.\d+)?)-live-server-{re.escape(arch)}\.iso")
    versions = sorted(
        ((m.group(1), name) for name in entries if (m := iso_re.fullmatch(name))),
        key=lambda pair: _version_key(pair[0]),
    )
    if not versions:
        raise not_offered_arch(entries, arch, f"{url}{INDEX_NAME}")
    version, iso_name = versions[-1]
    tarball = f"ubuntu-{version}-netboot-{arch}.tar.gz"
    if tarball not in entries:
        raise LayoutError(
            f"{url}{INDEX_NAME} lists {iso_name} but not {tarball}: no netboot tarball for this release and arch "
            "(Ubuntu publishes them from 23.10 on), or it is published without a signed checksum, which is refused"
        )
    return NetbootRelease(
        url=url,
        arch=arch,
        version=version,
        tarball=RemoteFile(name=tarball, url=url + tarball, sha256=entries[tarball]),
        iso_name=iso_name,
        iso_sha256=entries[iso_name],
    )


def install_members(arch: str) -> dict[str, str]:
    """{name in the TFTP root: path inside the tarball} for the kernel and initrd."""
    return {name: f"{arch}/{member}" for name, member in INSTALL_MEMBERS.items()}


def loader_members(arch: str) -> dict[str, str]:
    return {name: f"{arch}/{name}" for name in LOADER_MEMBERS.get(arch, ())}


class UbuntuNetboot(Layout):
    """<codename>/SHA256SUMS (+ .gpg, gpgv) -> the newest point release's netboot tarball -> its members."""

    name = NAME
    label = "Ubuntu netboot tarballs: Ubuntu 23.10 and later, e.g. 24.04 noble (URL: https://releases.ubuntu.com/)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: Once[tuple[str, str, str], tuple[NetbootRelease, str]] = Once()

    @classmethod
    def default_releases(cls, distribution: str) -> list[str]:
        """Only the supported releases that have netboot tarballs (23.10 and later)."""
        return supported_releases(distribution, min_version=FIRST_VERSION)

    def wanted(self, item: Item) -> Wanted:
        offer, signed_by = self._index(item)
        if item.kind == ItemKind.LOADER:
            members = loader_members(item.arch)
            if not members:
                return Wanted(skip=f"no pre-boot loader known for {item.arch} in {offer.tarball.url}")
            return Wanted(tarball=offer.tarball, members=members, signed_by=signed_by)
        return Wanted(
            tarball=offer.tarball,
            members=install_members(item.arch),
            boot_options=offer.boot_options(item.source.iso_base_url),
            signed_by=signed_by,
        )

    def _index(self, item: Item) -> tuple[NetbootRelease, str]:
        def fetch() -> tuple[NetbootRelease, str]:
            url = release_url(item.source.url, item.release)
            text, signed_by = self.detached_signed_text(item, url + INDEX_NAME)
            return parse_index(text, url=url, arch=item.arch), signed_by

        return self._indexes.get((item.source.url, item.release, item.arch), fetch)
