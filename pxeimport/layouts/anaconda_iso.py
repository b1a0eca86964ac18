"""Fedora, AlmaLinux, Rocky Linux and CentOS Stream from the boot ISO their signed checksum list names.

These distributions sign the checksum list of their ISO directory, not the files of their trees, so the
chain is as ubuntu-iso's:

    <release dir>/ (the web server's index page: which checksum list is there, pxeimport.layouts.listing)
      -> the checksum list: clearsigned (Fedora's Fedora-<edition>-<version>-<respin>-<basearch>-CHECKSUM,
         AlmaLinux's CHECKSUM) or with a detached CHECKSUM.sig / .asc / .gpg (Rocky Linux), verified with
         gpgv against the source's keyring; BSD lines "SHA256 (<file>) = <hex>" or coreutils lines
      -> the newest point release's boot ISO it lists for the arch (FAMILIES), downloaded (resumable),
         verified, then images/pxeboot/vmlinuz, images/pxeboot/initrd.img and images/install.img out of it

The release dir is the source's URL with {release} and {basearch} filled in when it has them
(https://download.fedoraproject.org/pub/fedora/linux/releases/{release}/Server/{basearch}/iso/), else
<url>/<release>/isos/<basearch>/ (AlmaLinux's and Rocky Linux's trees). Architectures keep Debian's names
in the TFTP root (amd64); the upstream's are RPM's ({basearch}: x86_64).

Anaconda's initrd fetches its stage 2 over the network after the kernel starts: `inst.stage2=<URL>` names a
tree, whose .treeinfo's [stage2] mainimage names the image (Anaconda's boot options documentation asks for
a valid .treeinfo; its dracut module, anaconda-lib.sh anaconda_net_root, falls back to images/install.img
in current releases only). pxeimport keeps the ISO's verified .treeinfo and images/install.img in the HTTP
root at an immutable path and names that directory, so nodes need no upstream to start the installer; so
this layout needs PXEIMPORT_HTTP_ROOT and PXEIMPORT_HTTP_URL. The package repository (inst.repo) is the
source's when it has one; else not set: the installer uses the one its image names (Fedora: its mirror list).
Pre-boot loaders come from another source of the arch (debian-installer, ubuntu-iso).
"""

from __future__ import annotations

import configparser
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxeimport.fetching import FetchError, NotFound
from pxeimport.items import Item, ItemKind, Source
from pxeimport.layouts.base import (
    BootEntry,
    Container,
    Layout,
    LayoutError,
    NotOffered,
    RemoteFile,
    Wanted,
    upstream_arch,
)
from pxeimport.layouts.listing import listed_names
from pxeimport.layouts.releases import ReleaseDataError
from pxeimport.lib import Once, check_name
from pxeimport.trust import SignatureError, parse_sha256sums

NAME = "anaconda-iso"
# Debian's architecture names (the TFTP root's) -> RPM's, as the trees name their directories and ISOs.
BASEARCH = {"amd64": "x86_64", "arm64": "aarch64"}
# Checksum lists of an ISO directory: Fedora's per compose, AlmaLinux's and Rocky Linux's CHECKSUM, CentOS
# Stream's <iso>.SHA256SUM beside each ISO (unsigned, as Rocky Linux's are now: refused, like any list with
# no signature).
CHECKSUM_LIST = re.compile(r"CHECKSUM|SHA256SUM|[A-Za-z0-9][A-Za-z0-9._+-]*(?:-CHECKSUM|\.iso\.SHA256SUM)")
DETACHED_SUFFIXES = (".sig", ".asc", ".gpg")
CLEARSIGNED = b"-----BEGIN PGP SIGNED MESSAGE-----"
STAGE2 = "install.img"
TREEINFO = ".treeinfo"
# Name in the TFTP root -> path in the boot ISO (the same on x86_64 and aarch64).
MEMBERS = {
    "linux": "images/pxeboot/vmlinuz",
    "initrd": "images/pxeboot/initrd.img",
    "install.img": "images/install.img",
    "treeinfo": TREEINFO,
}
# A boot ISO is ~1 GB (Fedora 41 Server netinst x86_64: 0.9 GB; AlmaLinux 9 boot: 0.9 GB).
ISO_FREE_BYTES = 2 << 30
# Anaconda's boot options (anaconda.readthedocs.io, "Anaconda Boot Options"): inst.stage2 the installer
# image's tree; ip=dhcp brings the network up in the initrd so it can be fetched.
BOOT_OPTIONS = "inst.stage2={stage2} ip=dhcp"
# What an install records as "signed by" when the operator's pin, not a signature, vouched for the ISO.
PINNED = "pinned by the boot source"


@dataclass(frozen=True)
class Family:
    """One distribution's boot ISO name, with (?P<version>) and {basearch} to fill in."""

    name: str
    iso: str

    def pattern(self, basearch: str) -> re.Pattern[str]:
        return re.compile(self.iso.replace("{basearch}", re.escape(basearch)))


FAMILIES = (
    # Fedora-Server-netinst-x86_64-41-1.4.iso, Fedora-Everything-netinst-aarch64-41-1.4.iso
    Family("Fedora", r"Fedora-(?:Server|Everything)-netinst-{basearch}-(?P<version>\d+-\d+(?:\.\d+)*)\.iso"),
    # AlmaLinux-9.5-x86_64-boot.iso (not the AlmaLinux-9-latest-x86_64-boot.iso alias)
    Family("AlmaLinux", r"AlmaLinux-(?P<version>\d+(?:\.\d+)*)-{basearch}-boot\.iso"),
    # Rocky-9.5-x86_64-boot.iso (not Rocky-x86_64-boot.iso, Rocky-9-latest-x86_64-boot.iso)
    Family("Rocky Linux", r"Rocky-(?P<version>\d+(?:\.\d+)*)-{basearch}-boot\.iso"),
    # CentOS-Stream-9-20241118.0-x86_64-boot.iso
    Family("CentOS Stream", r"CentOS-Stream-(?P<version>\d+-\d+(?:\.\d+)*)-{basearch}-boot\.iso"),
)


def version_key(version: str) -> tuple[int, ...]:
    """Orders "41-1.10" after "41-1.4": the numbers in it, left to right."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def basearch(arch: str) -> str:
    """RPM's name for Debian's `arch`; NotOffered for an arch these trees do not boot from pxeboot/."""
    return upstream_arch(arch, BASEARCH, NAME, "RPM's", " from images/pxeboot/")


def release_dir(source: Source, arch: str, release: str) -> str:
    """The ISO directory of `release` for `arch`, with a trailing slash (see the module docstring)."""
    check_name("release", release)
    template = dict(source.arch_urls.releases).get(arch) or source.url
    if "{release}" not in template:
        template = template.rstrip("/") + "/{release}/isos/{basearch}/"
    filled = template.replace("{release}", release).replace("{basearch}", basearch(arch)).replace("{arch}", arch)
    return filled.rstrip("/") + "/"


def newest_boot_iso(entries: dict[str, str], arch: str, where: str, pinned: str = "") -> tuple[Family, str, str]:
    """(family, version, file name) of the newest boot ISO for `arch` that `entries` list; with `pinned` (a
    SHA-256), of the one listed with that hash.

    NotOffered naming `where` when the list has none (saying which arches' boot ISOs it has); LayoutError
    when none has the pinned hash (naming the newest, so a new point release is seen).
    """
    rpm_arch = basearch(arch)
    found = [
        (family, m.group("version"), name)
        for family in FAMILIES
        for name in entries
        if (m := family.pattern(rpm_arch).fullmatch(name))
    ]
    if not found:
        offered = sorted(
            {a for a, b in BASEARCH.items() for f in FAMILIES for n in entries if f.pattern(b).fullmatch(n)}
        )
        also = f"; it lists boot ISOs for {', '.join(offered)}" if offered else ""
        raise NotOffered(f"{where} lists no boot ISO for {arch} ({rpm_arch}){also}", offered=offered)
    newest = max(found, key=lambda f: version_key(f[1]))
    if not pinned:
        return newest
    chosen = [f for f in found if entries[f[2]] == pinned]
    if not chosen:
        raise LayoutError(
            f"{where} lists no boot ISO for {arch} with the pinned SHA-256 {pinned} (its newest: {newest[2]}, "
            f"{entries[newest[2]]}): check that ISO and pin it, or clear the pin; what is served stays"
        )
    return chosen[0]


def stage2_path(family: Family, release: str, iso: RemoteFile) -> str:
    """The directory below the HTTP root's images/ that holds images/install.img: immutable, named by the ISO."""
    slug = re.sub(r"[^a-z0-9]+", "-", family.name.lower())
    return f"{slug}/{release}/{iso.sha256[:16]}"


def stage2_tree(directory: str) -> dict[str, str]:
    """What inst.stage2=<directory> reads, as publish_members: the tree description and the image it names."""
    return {"treeinfo": f"{directory}/{TREEINFO}", STAGE2: f"{directory}/images/{STAGE2}"}


def check_treeinfo(iso_url: str, files: Mapping[str, Path], hashes: Mapping[str, str]) -> None:
    """LayoutError when the ISO's .treeinfo (productmd's INI format, doc/treeinfo-1.2.rst: a [checksums]
    section of "<path> = sha256:<hex>") lists the kernel, initrd or installer image with another hash than
    the one it holds, or is no INI file. A path it does not list is not checked: the ISO's own hash is."""
    where = f"{iso_url}#.treeinfo"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # paths keep their case
    try:
        parser.read_string(files["treeinfo"].read_text(encoding="utf-8"), source=where)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise LayoutError(f"{where} is not a tree description: {exc}") from exc
    listed = dict(parser.items("checksums")) if parser.has_section("checksums") else {}
    for name, path in MEMBERS.items():
        said = listed.get(path, "")
        if name == "treeinfo" or not said.startswith("sha256:"):
            continue  # not every .treeinfo lists checksums (lorax writes none; the compose adds them)
        if said[len("sha256:") :].lower() != hashes[name]:
            raise LayoutError(f"{where} lists {path} as {said}, but the ISO holds sha256:{hashes[name]}")


def repository(item: Item) -> str:
    """ " inst.repo=<the source's package repository>" ({release}, {basearch} filled in), or "" when it has
    none: the installer then takes the repository its image names (Fedora: its mirror list) or asks."""
    if not item.source.package_repo:
        return ""
    filled = item.source.package_repo.replace("{release}", item.release).replace("{basearch}", basearch(item.arch))
    return f" inst.repo={filled}"


def checksum_list(names: list[str]) -> str:
    """The checksum list among a directory's `names`: Fedora's newest <compose>-CHECKSUM, else CHECKSUM,
    else SHA256SUM, else the newest <iso>.SHA256SUM; "" when there is none."""
    lists = [name for name in names if CHECKSUM_LIST.fullmatch(name)]
    composed = sorted((n for n in lists if n.endswith("-CHECKSUM")), key=version_key)
    beside = sorted((n for n in lists if n.endswith(".iso.SHA256SUM") and "latest" not in n), key=version_key)
    for choice in (composed[-1:], ["CHECKSUM"], ["SHA256SUM"], beside[-1:]):
        if choice and choice[0] in lists:
            return choice[0]
    return ""


class AnacondaIso(Layout):
    """<release dir>/<checksum list> (signed) -> the boot ISO -> kernel, initrd and stage 2 (install.img)."""

    name = NAME
    reads_options = ("--iso-sha256",)
    has_loaders = False
    names_releases = True
    arches = tuple(BASEARCH)
    own_keyring = (
        "the distribution's signing key as a binary keyring (its published key, fingerprint checked, through "
        "gpg --dearmor: docs/operator/anaconda.md); Debian's and Ubuntu's keyrings never sign these lists"
    )
    label = (
        "Fedora, AlmaLinux, Rocky Linux (Anaconda): kernel, initrd and installer image from the boot ISO its "
        "signed checksum list names (URL: e.g. https://repo.almalinux.org/almalinux/, or one with {release} "
        "and {basearch}; needs the HTTP root)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lists: Once[tuple[str, str], tuple[dict[str, str], str, str]] = Once()

    @classmethod
    def default_releases(cls, distribution: str) -> list[str]:
        """ReleaseDataError: distro-info knows no RPM distribution, so the selection must name the releases."""
        raise ReleaseDataError(
            f"{NAME} has no default releases (distro-info knows no RPM distribution): select them, "
            "e.g. 41 for Fedora or 9 for AlmaLinux and Rocky Linux"
        )

    def wanted(self, item: Item) -> Wanted:
        if item.kind == ItemKind.LOADER:
            return Wanted(
                skip=f"{NAME} installs no pre-boot loaders: let a debian-installer or ubuntu-iso source of "
                f"{item.arch} feed them"
            )
        if self.http_root is None:
            raise LayoutError(
                f"{NAME} needs PXEIMPORT_HTTP_ROOT and PXEIMPORT_HTTP_URL: Anaconda fetches its installer "
                "image (images/install.img) over HTTP once the kernel runs; nothing was fetched"
            )
        directory = release_dir(item.source, item.arch, item.release)
        entries, list_url, signed_by = self._list(item, directory)
        family, version, iso_name = newest_boot_iso(entries, item.arch, list_url, item.source.iso_sha256)
        signed_by = signed_by or (PINNED if item.source.iso_sha256 else "")
        iso = RemoteFile(iso_name, directory + iso_name, entries[iso_name])
        members = {name: (path,) for name, path in MEMBERS.items()}
        stage2 = stage2_path(family, item.release, iso)
        container = Container(iso, "iso", members, free_bytes=ISO_FREE_BYTES, publish_members=stage2_tree(stage2))
        return Wanted(
            containers=(container,),
            boot_options=BOOT_OPTIONS.format(stage2=self.http_root.url_for(stage2) + "/") + repository(item),
            entries=(BootEntry("", "linux", "initrd", title=f"{family.name} {version}"),),
            signed_by=signed_by,
            check_files=functools.partial(check_treeinfo, iso.url),
        )

    def _list(self, item: Item, directory: str) -> tuple[dict[str, str], str, str]:
        """The verified checksum list of `directory` as {file name: SHA-256}, its URL, and the signing key."""

        def fetch() -> tuple[dict[str, str], str, str]:
            names = self._listing(directory)
            name = checksum_list(names) if names is not None else "CHECKSUM"
            where = f"is it the ISO directory of release {item.release} for {basearch(item.arch)}? (releases are "
            where += "named as the trees name their directories: 9 for AlmaLinux 9.x, 41 for Fedora 41)"
            if not name:
                raise LayoutError(
                    f"{directory} lists no checksum list (CHECKSUM, SHA256SUM, <compose>-CHECKSUM); {where}"
                )
            url = directory + name
            try:
                data = self.fetcher.get_bytes(url)
            except NotFound as exc:
                raise LayoutError(f"{url}: not found (the server gives no index page to look in); {where}") from exc
            signed_by = ""
            if item.source.verify_signatures:
                data, signed_by = self._verify(item, url, data, names)
            elif data.startswith(CLEARSIGNED):
                raise LayoutError(f"{url}: signature checks are off, and a clearsigned list is read only verified")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FetchError(url, "checksum list is not UTF-8 text") from exc
            return parse_sha256sums(text, source=url), url, signed_by

        return self._lists.get((item.source.url, directory), fetch)

    def _listing(self, directory: str) -> list[str] | None:
        """The file names the directory's index page links to; None when the server refuses one (404, 403 with
        indexes off: any 4xx; the checksum list is then asked for by its usual name). FetchError otherwise."""
        try:
            page = self.fetcher.get_bytes(directory)
        except FetchError as exc:
            if exc.status is None or not 400 <= exc.status < 500:
                raise  # the mirror is away or failing: the list would fail the same way
            return None
        return listed_names(page.decode("utf-8", errors="replace"))

    def _verify(self, item: Item, url: str, data: bytes, names: list[str] | None) -> tuple[bytes, str]:
        """(signed text, fingerprint): clearsigned, or by a detached signature beside the list."""
        verifier = self.verifier(item.source)
        if data.lstrip().startswith(CLEARSIGNED):
            return verifier.verify_checksum_list(url, data)
        name = url.rsplit("/", 1)[1]
        beside = [name + s for s in DETACHED_SUFFIXES if name + s in names] if names else []
        for signature in beside or [name + s for s in DETACHED_SUFFIXES]:
            try:
                return verifier.verify_checksum_list(url, data, url.rsplit("/", 1)[0] + "/" + signature)
            except NotFound:
                continue
        if item.source.iso_sha256:
            return data, ""  # an unsigned list, read for the pinned ISO's line only (newest_boot_iso)
        raise SignatureError(
            url,
            f"unsigned: not clearsigned and no {', '.join(name + s for s in DETACHED_SUFFIXES)} beside it; "
            "pin the ISO's SHA-256 in the boot source (--iso-sha256) to take one from an unsigned list",
        )
