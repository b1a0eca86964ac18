"""The debian-installer archive layout: <dists>/<release>/main/installer-<arch>/current/images/.

The index is `SHA256SUMS` in the images directory, listing paths such as
`./netboot/ubuntu-installer/amd64/linux`. Ubuntu 20.04 moved the same tree to `legacy-images/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pxeimport.fetching import FetchError, NotFound
from pxeimport.items import Item, ItemKind
from pxeimport.layouts.base import Layout, LayoutError, NotOffered, RemoteFile, Wanted
from pxeimport.layouts.releases import ReleaseDataError, known_releases
from pxeimport.lib import InvalidName, Once, check_name
from pxeimport.secureboot import SHIM_HELPERS
from pxeimport.trust import parse_sha256sums

NAME = "debian-installer"
INDEX_NAME = "SHA256SUMS"
# Tried in this order; the first whose index exists is used.
IMAGES_DIRS = ("images", "legacy-images")

KERNEL = "linux"
INITRD = "initrd.gz"
INSTALL_FILES = (KERNEL, INITRD)
PRE_BOOT_LOADER = "pxelinux.0"
# syslinux 5 and later load this from beside pxelinux.0; Debian keeps it in boot-screens/.
LDLINUX = "ldlinux.c32"
# UEFI: the signed shim (bootnet*) and the GRUB it chains to, which must sit beside it: x86-64,
# arm64, and 32-bit x86 firmware (DHCP client-arch 6), which Debian's i386 netboot dir also has.
UEFI_LOADERS = ("bootnetx64.efi", "grubx64.efi", "bootnetaa64.efi", "grubaa64.efi", "bootnetia32.efi", "grubia32.efi")
# MokManager and the fallback of the shim (secureboot.SHIM_HELPERS) are taken when the netboot dir lists them;
# Debian 12's does not, and each run then warns (pxeimport.secureboot.chain).


# Debian's suite names beside its codenames (a mirror's dists/ has both).
SUITE_ALIASES = frozenset({"stable", "testing", "unstable", "oldstable", "oldoldstable", "experimental"})
# A path of the signed Release that shows an arch has an installer: its images index.
_INSTALLER_PATH = re.compile(r"main/installer-([a-z0-9][a-z0-9.+_-]*)/current/(?:legacy-)?images/SHA256SUMS")


def images_urls(archive: str, release: str, arch: str) -> list[str]:
    """Candidate images-directory URLs (with trailing slash) for `release` and `arch`."""
    check_name("release", release)
    check_name("architecture", arch)
    base = f"{archive.rstrip('/')}/{release}/main/installer-{arch}/current"
    return [f"{base}/{images_dir}/" for images_dir in IMAGES_DIRS]


def release_paths(release: str, arch: str) -> list[str]:
    """The index's path as dists/<release>/Release lists it, for each of `images_urls`."""
    check_name("release", release)
    check_name("architecture", arch)
    return [f"main/installer-{arch}/current/{images_dir}/{INDEX_NAME}" for images_dir in IMAGES_DIRS]


@dataclass(frozen=True)
class NetbootIndex:
    """A parsed images-directory index for one architecture."""

    images_url: str
    arch: str
    installer_dir: str
    entries: dict[str, str]

    @property
    def netboot_dir(self) -> str:
        return f"netboot/{self.installer_dir}/{self.arch}"

    def _remote(self, name: str, path: str) -> RemoteFile:
        return RemoteFile(name=name, url=self.images_url + path, sha256=self.entries[path])

    def install_files(self) -> list[RemoteFile]:
        """The kernel and initrd; LayoutError if the index lacks either."""
        files = []
        for name in INSTALL_FILES:
            path = f"{self.netboot_dir}/{name}"
            if path not in self.entries:
                raise LayoutError(f"{self.images_url}{INDEX_NAME} does not list {path}")
            files.append(self._remote(name, path))
        return files

    def loader_files(self) -> list[RemoteFile]:
        """The pre-boot loaders the archive has for this arch; empty when it has none.

        BIOS: pxelinux.0 with ldlinux.c32 (from beside it or boot-screens/). UEFI: the shim and
        GRUB. pxelinux.0 comes first: pointers are swapped in this order.
        """
        files = []
        loader = f"{self.netboot_dir}/{PRE_BOOT_LOADER}"
        if loader in self.entries:
            files.append(self._remote(PRE_BOOT_LOADER, loader))
            for path in (f"{self.netboot_dir}/{LDLINUX}", f"{self.netboot_dir}/boot-screens/{LDLINUX}"):
                if path in self.entries:
                    files.append(self._remote(LDLINUX, path))
                    break
        for name in (*UEFI_LOADERS, *sorted(SHIM_HELPERS)):
            path = f"{self.netboot_dir}/{name}"
            if path in self.entries:
                files.append(self._remote(name, path))
        return files


def parse_index(text: str, *, images_url: str, arch: str, installer_dir: str | None = None) -> NetbootIndex:
    """Parse `SHA256SUMS` from `images_url` for `arch`.

    With no `installer_dir`, it is found from the index: the one `netboot/<dir>/<arch>/linux`
    listed. LayoutError when there is none, when several differ, or when `installer_dir`
    is given and absent.
    """
    entries = parse_sha256sums(text, source=images_url + INDEX_NAME)
    pattern = re.compile(rf"^netboot/([^/]+)/{re.escape(arch)}/{KERNEL}$")
    found = sorted({m.group(1) for path in entries if (m := pattern.match(path))})
    if installer_dir is None:
        if len(found) != 1:
            what = "no" if not found else f"several ({', '.join(found)})"
            raise LayoutError(f"{images_url}{INDEX_NAME} lists {what} netboot installer directories for {arch}")
        installer_dir = found[0]
    elif installer_dir not in found:
        listed = ", ".join(found) or "none"
        raise LayoutError(f"{images_url}{INDEX_NAME} has no netboot/{installer_dir}/{arch}/ (listed: {listed})")
    try:
        check_name("installer directory", installer_dir)
    except InvalidName as exc:
        raise LayoutError(f"{images_url}{INDEX_NAME}: {exc}") from exc
    return NetbootIndex(images_url=images_url, arch=arch, installer_dir=installer_dir, entries=entries)


class DebianInstaller(Layout):
    """dists/<release>/InRelease (gpgv) -> images/SHA256SUMS (hash from Release, or a .gpg beside it) -> files."""

    name = NAME
    label = "debian-installer netboot: Debian, and Ubuntu up to 20.04 focal (URL: the dists/ directory)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: Once[tuple[str, str, str], tuple[NetbootIndex, str]] = Once()

    def wanted(self, item: Item) -> Wanted:
        index, signed_by = self._index(item)
        if item.kind == ItemKind.LOADER:
            remote = index.loader_files()
            if not remote:
                return Wanted(skip=f"no pre-boot loader in {index.images_url}")
        else:
            remote = index.install_files()
        return Wanted(files=remote, signed_by=signed_by)

    def _index(self, item: Item) -> tuple[NetbootIndex, str]:
        """The item's verified, parsed index and its signer, fetched once per (source, release, arch)."""
        return self._indexes.get((item.source.url, item.release, item.arch), lambda: self._fetch_index(item))

    def _fetch_index(self, item: Item) -> tuple[NetbootIndex, str]:
        source = item.source
        if source.verify_signatures:
            self._check_offered(item)
        urls = images_urls(source.url, item.release, item.arch)
        first_miss: NotFound | None = None
        for images_url, release_path in zip(urls, release_paths(item.release, item.arch), strict=True):
            index_url = images_url + INDEX_NAME
            # The hash the signed Release lists (None: the index has its own .gpg): only a cached
            # copy with that hash is used, and then without asking the server.
            verifier = self.verifier(source) if source.verify_signatures else None
            listed = verifier.listed_sha256(item.release, release_path) if verifier is not None else None
            try:
                data = self.fetcher.get_bytes(index_url, listed)
            except NotFound as exc:
                first_miss = first_miss or exc
                continue
            signed_by = ""
            if verifier is not None:
                signed_by = verifier.verify(item.release, release_path, index_url, data)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FetchError(index_url, "index is not UTF-8 text") from exc
            index = parse_index(text, images_url=images_url, arch=item.arch, installer_dir=source.installer_dir)
            return index, signed_by
        assert first_miss is not None
        also = ", ".join(u + INDEX_NAME for u in urls[1:])
        raise FetchError(first_miss.url, f"{first_miss.reason}; also tried {also}", status=first_miss.status)

    def _check_offered(self, item: Item) -> None:
        """NotOffered when the release's verified Release lists no installer for the arch (naming those it
        lists), or when the archive has no Release for a release name distro-info does not know."""
        suite = f"{item.source.url.rstrip('/')}/{item.release}/"
        listed = self.verifier(item.source).listed_paths(item.release)
        if listed is None:
            try:
                known = {r.codename for d in ("debian", "ubuntu") for r in known_releases(d)} | SUITE_ALIASES
            except ReleaseDataError:  # no distro-info data: no judgement, the fetch says 404
                return
            if item.release not in known:
                raise NotOffered(
                    f"{suite}: no such release (neither InRelease nor Release; {item.release!r} is not a Debian "
                    "or Ubuntu release distro-info knows)"
                )
            return
        offered = sorted({m.group(1) for path in listed if (m := _INSTALLER_PATH.fullmatch(path))})
        if offered and item.arch not in offered:
            raise NotOffered(
                f"{suite}InRelease (verified) lists no installer for {item.arch}; it offers {', '.join(offered)}",
                offered=offered,
            )
