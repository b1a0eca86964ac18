"""Ubuntu from parts Ubuntu signs: kernel and initrd out of the live-server ISO, loaders out of packages.

Ubuntu leaves its netboot tarballs out of the signed SHA256SUMS (ubuntu-cdimage's
lib/cdimage/checksums.py skips names with "netboot" since April 2024: publishing rewrites them),
so this layout takes nothing from them:

    <release dir>/SHA256SUMS (+ SHA256SUMS.gpg, gpgv: Ubuntu's CD image key)
      -> the newest point release's ubuntu-<version>-live-server-<arch>.iso and its SHA-256
      -> the ISO, downloaded (resumable), verified, then casper/vmlinuz and casper/initrd out of it
         (pxeimport.extraction.iso), and the HWE pair casper/hwe-vmlinuz, casper/hwe-initrd where the
         image has it, as a second menu entry "<release>-hwe"
    <loader archive>/dists/<codename>{,-updates,-security}/InRelease (gpgv: Ubuntu's archive key)
      -> the newest shim-signed, grub-efi-<arch>-signed, pxelinux, syslinux-common (archive.packages)

The release dir is `<url>/<codename>/` (https://releases.ubuntu.com/noble/ for amd64), or the
source's per-arch URL template (arm64: https://cdimage.ubuntu.com/releases/{release}/release/).
The installer the kernel boots downloads the ISO at boot from `iso-url`: the verified copy kept in
the HTTP root when PXEIMPORT_HTTP_ROOT/PXEIMPORT_HTTP_URL are set, else the source's ISO mirror
URL, else upstream's release dir (which moves a point release's ISO away once the next is out).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from pxeimport.items import Item, ItemKind
from pxeimport.layouts.base import BootEntry, Container, Layout, LayoutError, RemoteFile, Wanted, not_offered_arch
from pxeimport.layouts.loaderfiles import LOADER_FILES
from pxeimport.layouts.packages import UBUNTU_POCKETS, DebMember, resolve_loaders, suites
from pxeimport.layouts.releases import supported_releases
from pxeimport.lib import Once, check_name
from pxeimport.trust import parse_sha256sums

NAME = "ubuntu-iso"
INDEX_NAME = "SHA256SUMS"
# The live-server ISO (subiquity) exists from 20.04 on.
FIRST_VERSION = (20, 4)
# Name in the TFTP root -> path in the ISO (Ubuntu's live-server images: casper/).
KERNEL_MEMBERS = {"linux": "casper/vmlinuz", "initrd": "casper/initrd"}
HWE_MEMBERS = {"hwe-linux": "casper/hwe-vmlinuz", "hwe-initrd": "casper/hwe-initrd"}
ENTRIES = (BootEntry("", "linux", "initrd"), BootEntry("hwe", "hwe-linux", "hwe-initrd"))
# The staging filesystem must hold the ISO (24.04.3 amd64: ~3.1 GB) before the download starts.
ISO_FREE_BYTES = 3 << 30
# Ubuntu's documented netboot command line (documentation.ubuntu.com/server, "How to netboot the server
# installer on amd64"): the ISO is downloaded into a RAM disk of ramdisk_size KiB; cloud-config-url=/dev/null
# keeps cloud-init from treating the URL on the command line as cloud-config and downloading the ISO again.
RAMDISK_SIZE_KB = 1500000
BOOT_OPTIONS = "root=/dev/ram0 ramdisk_size={size} ip=dhcp iso-url={iso_url} cloud-config-url=/dev/null"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def newest_iso(entries: dict[str, str], arch: str, where: str) -> tuple[str, str]:
    """(version, file name) of the newest ubuntu-<version>-live-server-<arch>.iso in `entries`.

    NotOffered naming `where` (and the arches it does list) when there is none.
    """
    check_name("architecture", arch)
    iso_re = re.compile(rf"ubuntu-(\d+\.\d+(?:\.\d+)?)-live-server-{re.escape(arch)}\.iso")
    found = sorted(
        ((m.group(1), name) for name in entries if (m := iso_re.fullmatch(name))), key=lambda p: _version_key(p[0])
    )
    if not found:
        raise not_offered_arch(entries, arch, where)
    return found[-1]


def http_path(release: str, iso: RemoteFile) -> str:
    """Where the verified ISO is kept below the HTTP root's images/: immutable, named by its hash."""
    return f"ubuntu/{release}/{iso.sha256[:16]}/{iso.name}"


def loader_containers(loaders: list[DebMember]) -> tuple[Container, ...]:
    """One "deb" container per .deb, holding the loaders it ships."""
    by_deb: dict[str, tuple[DebMember, dict[str, tuple[str, ...]]]] = {}
    for loader in loaders:
        by_deb.setdefault(loader.deb.url, (loader, {}))[1][loader.name] = loader.members
    optional = frozenset(loader.name for loader in loaders if loader.optional)
    return tuple(
        Container(RemoteFile(posixpath.basename(url), url, first.deb.sha256), "deb", members, optional & set(members))
        for url, (first, members) in by_deb.items()
    )


class UbuntuIso(Layout):
    """<release dir>/SHA256SUMS (+ .gpg) -> the live-server ISO -> casper/ kernels; loaders from packages."""

    name = NAME
    # The loaders' package archive has no default: releases.ubuntu.com is not one (nor is a mirror of it).
    needs_options = ("--loader-archive",)
    reads_options = ("--loader-archive",)
    label = (
        "Ubuntu live-server ISO: kernel and initrd from the signed ISO, loaders from the signed package "
        "archive (URL: https://releases.ubuntu.com/; loader archive: http://archive.ubuntu.com/ubuntu/dists/)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: Once[tuple[str, str], tuple[dict[str, str], str]] = Once()
        self._loaders: Once[tuple[str, str, str], tuple[list[DebMember], str]] = Once()

    @classmethod
    def default_releases(cls, distribution: str) -> list[str]:
        """The supported releases that publish a live-server ISO (20.04 and later)."""
        return supported_releases(distribution, min_version=FIRST_VERSION)

    def wanted(self, item: Item) -> Wanted:
        if item.kind == ItemKind.LOADER:
            return self._wanted_loaders(item)
        url = item.source.release_url(item.arch, item.release)
        entries, signed_by = self._index(item, url)
        _, iso_name = newest_iso(entries, item.arch, url + INDEX_NAME)
        iso = RemoteFile(iso_name, url + iso_name, entries[iso_name])
        members = {name: (path,) for name, path in (KERNEL_MEMBERS | HWE_MEMBERS).items()}
        keep = http_path(item.release, iso) if self.http_root is not None else ""
        container = Container(iso, "iso", members, frozenset(HWE_MEMBERS), ISO_FREE_BYTES, publish_as=keep)
        return Wanted(
            containers=(container,),
            boot_options=BOOT_OPTIONS.format(size=RAMDISK_SIZE_KB, iso_url=self._iso_url(item, iso, keep)),
            entries=ENTRIES,
            signed_by=signed_by,
        )

    def _iso_url(self, item: Item, iso: RemoteFile, keep: str) -> str:
        if keep and self.http_root is not None:
            return self.http_root.url_for(keep)
        if item.source.iso_base_url:
            return item.source.iso_base_url.rstrip("/") + "/" + iso.name
        return iso.url

    def _index(self, item: Item, url: str) -> tuple[dict[str, str], str]:
        """The verified SHA256SUMS of a release dir, as {file name: SHA-256}, and the signing key."""

        def fetch() -> tuple[dict[str, str], str]:
            text, signed_by = self.detached_signed_text(item, url + INDEX_NAME)
            return parse_sha256sums(text, source=url + INDEX_NAME), signed_by

        return self._indexes.get((item.source.url, url), fetch)

    def _wanted_loaders(self, item: Item) -> Wanted:
        if item.arch not in LOADER_FILES:
            return Wanted(skip=f"no pre-boot loader known for {item.arch} in a package archive")
        archive = item.source.loader_archive_for(item.arch)
        if not archive:
            raise LayoutError(
                f"boot source {item.source.name!r} has no loader archive: set its dists/ URL "
                "(--loader-archive, or the admin's loader archive field), e.g. http://archive.ubuntu.com/ubuntu/dists/"
            )
        loaders, signed_by = self._loaders.get((archive, item.release, item.arch), lambda: self._resolve(item, archive))
        return Wanted(containers=loader_containers(loaders), signed_by=signed_by)

    def _resolve(self, item: Item, archive: str) -> tuple[list[DebMember], str]:
        """The newest loader packages across the release's pockets, and the key that signed their InRelease."""
        signers: list[str] = []

        def verify(data: bytes, url: str) -> bytes:
            if not item.source.verify_signatures:
                return data
            content, fingerprint = self.verifier(item.source).verify_inrelease(url, data)
            signers.append(fingerprint)
            return content

        pockets = suites(archive, item.release, UBUNTU_POCKETS)
        loaders = resolve_loaders(self.fetcher.get_bytes, verify, pockets, item.arch)
        return loaders, signers[0] if signers else ""
