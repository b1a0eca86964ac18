"""openSUSE Leap 15 and Tumbleweed from the network-install ISO its signed checksum file names.

openSUSE signs one checksum file per ISO, not the files of its trees, so the chain is as anaconda-iso's:

    <ISO dir>/ (the web server's index page: which NET ISOs are there, pxeimport.layouts.listing)
      -> the newest build's NET ISO for the arch (openSUSE-Leap-15.6-NET-x86_64-Build710.3-Media.iso,
         openSUSE-Tumbleweed-NET-x86_64-Snapshot20241201-Media.iso)
      -> its <iso>.sha256 (a coreutils line "<hex>  <iso>"; the product composer runs sha256sum), with the
         detached <iso>.sha256.asc (clearsigned in older builds), verified with gpgv against the source's
         keyring (the openSUSE Project Signing Key) and dated by its signature
      -> the ISO, downloaded (resumable), verified; the kernel and initrd out of it (installation-images,
         data/boot/boot.file_list: boot/x86_64/loader/linux and initrd; boot/<arch>/linux elsewhere), and the
         installation system's parts (boot/<arch>/config and what its "root:" line names)

The ISO dir is the source's URL with {release} and {basearch} filled in when it has them, else, below the
mirror's top (https://download.opensuse.org/): distribution/leap/<release>/iso/ for Leap, tumbleweed/iso/
(x86_64) or ports/<basearch>/tumbleweed/iso/ for the release "tumbleweed". When no build-numbered ISO is
listed, the unnumbered name (-Media.iso, Tumbleweed's -Current.iso) is taken; its hash still pins it.

linuxrc, the installer's initrd, loads the installation system over the network once the kernel runs
(linuxrc's linuxrc.html and url.c): `instsys=<URL>/root` names it; linuxrc reads <URL>/config and fetches
the parts it lists for root from that directory, each checked against the digests the initrd carries
(installation-images, data/initrd/digests.file_list). pxeimport keeps those parts in the HTTP root at an
immutable path, so nodes need no upstream to start the installer. `install=` names the package repository:
the source's package repository, by default the release's repo/oss/ beside the ISO dir (below the mirror's
top). `netsetup=dhcp` brings up the network (linuxrc.html). So this layout needs PXEIMPORT_HTTP_ROOT and
PXEIMPORT_HTTP_URL.

Not imported: Leap 16 (Agama: a live root, not linuxrc), DVD ISOs, arches other than x86_64 and aarch64.
Pre-boot loaders come from another source of the arch (debian-installer, ubuntu-iso).
"""

from __future__ import annotations

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
from pxeimport.lib import InvalidName, Once, check_name
from pxeimport.trust import ChecksumIndexError, SignatureError, parse_sha256sums

NAME = "opensuse-iso"
TUMBLEWEED = "tumbleweed"
# Debian's architecture names (the TFTP root's) -> openSUSE's, as its ISOs and boot/ directories name them.
BASEARCH = {"amd64": "x86_64", "arm64": "aarch64"}
# The installation system's parts linuxrc loads for "root" (installation-images, data/root/config: "root:
# common root cracklib-dict-full.rpm bind ?yast2-trans-<lang>.rpm ?configfiles"; "?" marks one it may miss),
# with the config that lists them. Name in the TFTP root = name in boot/<arch>/ = name in the HTTP root.
INSTSYS = ("config", "root", "common", "cracklib-dict-full.rpm", "bind")
# The ISO's own list of what is below boot/ (mksusecd and the product composer write it; sha256sum lines).
CHECKSUMS = "CHECKSUMS"
CLEARSIGNED = b"-----BEGIN PGP SIGNED MESSAGE-----"
# A NET ISO is ~0.2-0.4 GB (Leap 15.6 NET x86_64: ~0.25 GB); room for it and what is taken out of it.
ISO_FREE_BYTES = 1 << 30
BOOT_OPTIONS = "instsys={instsys} install={repository} netsetup=dhcp"
NO_REPOSITORY = (
    f"its URL (or a per-arch URL) is a template with {{release}}, so {NAME} cannot tell where the release's "
    "packages are: set its package repository URL (e.g. https://download.opensuse.org/distribution/leap/"
    "{release}/repo/oss/)"
)


@dataclass(frozen=True)
class Edition:
    """One openSUSE distribution's NET ISO names: numbered by build, and the unnumbered alias."""

    name: str
    numbered: str
    alias: str

    def pattern(self, release: str, basearch: str, numbered: bool = True) -> re.Pattern[str]:
        text = self.numbered if numbered else self.alias
        return re.compile(text.replace("{release}", re.escape(release)).replace("{basearch}", re.escape(basearch)))


LEAP = Edition(
    "openSUSE Leap",
    r"openSUSE-Leap-{release}-NET-{basearch}-Build(?P<build>\d+(?:\.\d+)*)-Media\.iso",
    r"openSUSE-Leap-{release}-NET-{basearch}-Media\.iso",
)
TUMBLEWEED_EDITION = Edition(
    "openSUSE Tumbleweed",
    r"openSUSE-Tumbleweed-NET-{basearch}-Snapshot(?P<build>\d{8})-Media\.iso",
    r"openSUSE-Tumbleweed-NET-{basearch}-Current\.iso",
)


def edition(release: str) -> Edition:
    """Tumbleweed for the release "tumbleweed", Leap for a version (15.6); NotOffered for anything else."""
    imported = f"{NAME} imports Leap 15 (releases named as the ISOs name them: 15.6) and Tumbleweed (tumbleweed)"
    if release.lower() == TUMBLEWEED and release != TUMBLEWEED:
        raise NotOffered(f"{imported}: write {TUMBLEWEED} in lower case, not {release!r}", offered=[TUMBLEWEED])
    check_name("release", release)
    if release == TUMBLEWEED:
        return TUMBLEWEED_EDITION
    if re.fullmatch(r"15\.\d+", release):
        return LEAP
    why = ": Leap 16 installs with Agama, which linuxrc's options do not boot" if re.match(r"1[6-9]\b", release) else ""
    raise NotOffered(f"{imported}, not {release!r}{why}", offered=["15.6", TUMBLEWEED])


def basearch(arch: str) -> str:
    """openSUSE's name for Debian's `arch`; NotOffered for an arch this layout does not import."""
    return upstream_arch(arch, BASEARCH, NAME, "openSUSE's")


def _below_top(source: Source, arch: str, release: str, leap: str, tumbleweed: str) -> str:
    template = dict(source.arch_urls.releases).get(arch) or source.url
    if "{release}" not in template:
        top = template.rstrip("/") + "/"
        if release != TUMBLEWEED:
            template = top + leap
        else:
            template = top + ("" if arch == "amd64" else "ports/{basearch}/") + tumbleweed
    filled = template.replace("{release}", release).replace("{basearch}", basearch(arch)).replace("{arch}", arch)
    return filled.rstrip("/") + "/"


def iso_dir(source: Source, arch: str, release: str) -> str:
    """The ISO directory of `release` for `arch`, with a trailing slash (see the module docstring)."""
    return _below_top(source, arch, release, "distribution/leap/{release}/iso/", "tumbleweed/iso/")


def package_repository(source: Source, arch: str, release: str) -> str:
    """What `install=` names: the source's package repository with {release} and {basearch} filled in, else
    the release's repo/oss/ below the mirror's top; LayoutError when the source's URL is a template (no top
    to derive it from), saying to set it."""
    if source.package_repo:
        filled = source.package_repo.replace("{release}", release).replace("{basearch}", basearch(arch))
        return filled.rstrip("/") + "/"
    if "{release}" in (dict(source.arch_urls.releases).get(arch) or source.url):
        raise LayoutError(f"boot source {source.name!r}: {NO_REPOSITORY}")
    return _below_top(source, arch, release, "distribution/leap/{release}/repo/oss/", "tumbleweed/repo/oss/")


def newest_net_iso(names: list[str], release: str, arch: str, where: str) -> tuple[str, str]:
    """(build, file name) of the newest NET ISO of `release` for `arch` that `names` list, by build number;
    ("", alias) when only the unnumbered name is listed. NotOffered naming `where` when there is none."""
    each, rpm_arch = edition(release), basearch(arch)
    numbered = [(m.group("build"), n) for n in names if (m := each.pattern(release, rpm_arch).fullmatch(n))]
    if numbered:
        return max(numbered, key=lambda found: tuple(int(n) for n in found[0].split(".")))
    aliases = [n for n in names if each.pattern(release, rpm_arch, numbered=False).fullmatch(n)]
    if aliases:
        return "", aliases[0]
    offered = sorted(a for a, b in BASEARCH.items() if any(f"-NET-{b}-" in n and n.endswith(".iso") for n in names))
    also = f"; it lists NET ISOs for {', '.join(offered)}" if offered else ""
    raise NotOffered(f"{where} lists no {each.name} {release} NET ISO for {arch}{also}", offered=offered)


def title(release: str, build: str) -> str:
    """What the menus say an entry boots: "openSUSE Leap 15.6 Build710.3", "openSUSE Tumbleweed 20241201"."""
    if release == TUMBLEWEED:
        return f"{TUMBLEWEED_EDITION.name} {build}".rstrip()
    return f"{LEAP.name} {release}" + (f" Build{build}" if build else "")


def instsys_dir(release: str, iso: RemoteFile, rpm_arch: str) -> str:
    """The directory below the HTTP root's images/ that holds the installation system: immutable, named by
    the ISO, ending as the ISO's own (boot/<arch>), so linuxrc's messages name a path an operator knows."""
    return f"opensuse/{release}/{iso.sha256[:16]}/boot/{rpm_arch}"


def check_instsys(iso_url: str, rpm_arch: str, files: Mapping[str, Path], hashes: Mapping[str, str]) -> None:
    """LayoutError when the ISO's installation system needs a part pxeimport does not keep (its config's
    "root:" line names a part with no "?" that is not in INSTSYS), or when the ISO's CHECKSUMS lists one of
    the files taken with another hash than the one it holds. A file CHECKSUMS does not list is not checked:
    the ISO's own hash is."""
    where = f"{iso_url}#boot/{rpm_arch}/config"
    lines = files["config"].read_text(encoding="utf-8", errors="replace").splitlines()
    parts = next((line.split(":", 1)[1].split() for line in lines if line.startswith("root:")), None)
    if parts is None:
        raise LayoutError(f"{where} names no parts of the installation system (no 'root:' line)")
    needed = [p for p in parts if not p.startswith("?") and p not in INSTSYS]
    if needed:
        raise LayoutError(
            f"{where} needs {', '.join(needed)} for the installation system, which {NAME} does not keep "
            f"(it keeps {', '.join(INSTSYS)}): nodes would stop in linuxrc; what is served stays"
        )
    if CHECKSUMS not in files:
        return
    try:
        listed = parse_sha256sums(files[CHECKSUMS].read_text(encoding="utf-8"), source=f"{iso_url}#{CHECKSUMS}")
    except (ChecksumIndexError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{iso_url}#{CHECKSUMS} is not a checksum list: {exc}") from exc
    for name, paths in members(rpm_arch).items():
        said = next((listed[p] for p in paths if p in listed), "")
        if said and name in hashes and said != hashes[name]:
            raise LayoutError(f"{iso_url}#{CHECKSUMS} lists {paths[0]} as {said}, but the ISO holds {hashes[name]}")


def members(rpm_arch: str) -> dict[str, tuple[str, ...]]:
    """Name in the TFTP root -> paths in the ISO to try: the kernel and initrd below loader/ on x86_64, in
    boot/<arch>/ elsewhere (installation-images, data/boot/boot.file_list); the installation system."""
    boot = f"boot/{rpm_arch}"
    found: dict[str, tuple[str, ...]] = {
        name: (f"{boot}/loader/{name}", f"{boot}/{name}") for name in ("linux", "initrd")
    }
    return found | {name: (f"{boot}/{name}",) for name in INSTSYS} | {CHECKSUMS: (CHECKSUMS,)}


class OpensuseIso(Layout):
    """<ISO dir>/<NET ISO>.sha256 (signed) -> the NET ISO -> kernel, initrd and the installation system."""

    name = NAME
    has_loaders = False
    names_releases = True
    arches = tuple(BASEARCH)
    own_keyring = (
        "the openSUSE Project Signing Key as a binary keyring (its published key, fingerprint checked, through "
        "gpg --dearmor: docs/operator/opensuse.md); Debian's and Ubuntu's keyrings never sign these files"
    )
    label = (
        "openSUSE Leap 15 and Tumbleweed (linuxrc): kernel, initrd and installation system from the NET ISO "
        "its signed .sha256 names (URL: e.g. https://download.opensuse.org/; needs the HTTP root)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sums: Once[str, tuple[str, str]] = Once()

    @classmethod
    def source_problem(cls, url: str, package_repo: str, arch_urls: str = "") -> str:
        templated = "{release}" in url or "{release}" in arch_urls  # a per-arch URL is a template (a walk)
        return f"{NAME}: {NO_REPOSITORY}" if templated and not package_repo else ""

    @classmethod
    def release_problem(cls, release: str) -> str:
        try:
            edition(release)
        except InvalidName:
            return ""  # the release name's own check says it
        except LayoutError as exc:
            return str(exc)
        return ""

    @classmethod
    def default_releases(cls, distribution: str) -> list[str]:
        """ReleaseDataError: distro-info knows no openSUSE, so the selection must name the releases."""
        raise ReleaseDataError(f"{NAME} has no default releases: select them, e.g. 15.6 or tumbleweed")

    def wanted(self, item: Item) -> Wanted:
        if item.kind == ItemKind.LOADER:
            return Wanted(
                skip=f"{NAME} installs no pre-boot loaders: let a debian-installer or ubuntu-iso source of "
                f"{item.arch} feed them"
            )
        edition(item.release)
        if self.http_root is None:
            raise LayoutError(
                f"{NAME} needs PXEIMPORT_HTTP_ROOT and PXEIMPORT_HTTP_URL: linuxrc fetches the installation "
                "system over HTTP once the kernel runs; nothing was fetched"
            )
        rpm_arch = basearch(item.arch)
        directory = iso_dir(item.source, item.arch, item.release)
        repository = package_repository(item.source, item.arch, item.release)
        build, name = newest_net_iso(self._listing(directory), item.release, item.arch, directory)
        sha256, signed_by = self._sums.get(directory + name, lambda: self._checksum(item, directory, name))
        iso = RemoteFile(name, directory + name, sha256)
        instsys = instsys_dir(item.release, iso, rpm_arch)
        kept = {part: f"{instsys}/{part}" for part in INSTSYS}
        optional = frozenset({CHECKSUMS})
        container = Container(iso, "iso", members(rpm_arch), optional, ISO_FREE_BYTES, publish_members=kept)
        return Wanted(
            containers=(container,),
            boot_options=BOOT_OPTIONS.format(instsys=self.http_root.url_for(kept["root"]), repository=repository),
            entries=(BootEntry("", "linux", "initrd", title=title(item.release, build)),),
            signed_by=signed_by,
            check_files=lambda files, hashes: check_instsys(iso.url, rpm_arch, files, hashes),
        )

    def _listing(self, directory: str) -> list[str]:
        """The file names the ISO directory's index page links to; LayoutError when it has none to give."""
        try:
            page = self.fetcher.get_bytes(directory)
        except NotFound as exc:
            raise LayoutError(f"{directory}: not found; is it the ISO directory of the release?") from exc
        return listed_names(page.decode("utf-8", errors="replace"))

    def _checksum(self, item: Item, directory: str, name: str) -> tuple[str, str]:
        """(the ISO's SHA-256, the signing key's fingerprint) from its verified <iso>.sha256."""
        url = directory + name + ".sha256"
        try:
            data = self.fetcher.get_bytes(url)
        except NotFound as exc:
            raise LayoutError(f"{url}: not found; openSUSE publishes one beside each ISO") from exc
        signed_by = ""
        if item.source.verify_signatures:
            verifier = self.verifier(item.source)
            # One series per ISO dir, edition and arch: a replayed older build's file is refused as stale.
            series = f"{directory}{edition(item.release).name} {item.release} NET {basearch(item.arch)}"
            if data.lstrip().startswith(CLEARSIGNED):
                data, signed_by = verifier.verify_checksum_list(url, data, series=series)
            else:
                try:
                    data, signed_by = verifier.verify_checksum_list(url, data, url + ".asc", series)
                except NotFound as exc:
                    raise SignatureError(url, f"unsigned: not clearsigned and no {name}.sha256.asc beside it") from exc
        elif data.startswith(CLEARSIGNED):
            raise LayoutError(f"{url}: signature checks are off, and a clearsigned file is read only verified")
        try:
            listed = parse_sha256sums(data.decode("utf-8"), source=url)
        except UnicodeDecodeError as exc:
            raise FetchError(url, "checksum file is not UTF-8 text") from exc
        # A build's file may name the ISO by its unnumbered alias (the same bytes when it was signed).
        alias = edition(item.release).pattern(item.release, basearch(item.arch), numbered=False)
        said = listed.get(name) or next((h for n, h in listed.items() if len(listed) == 1 and alias.fullmatch(n)), "")
        if not said:
            raise LayoutError(f"{url} lists {', '.join(sorted(listed)) or 'nothing'}, not {name}: what is served stays")
        return said, signed_by
