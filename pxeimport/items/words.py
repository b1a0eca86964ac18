"""The words of one import, as data: sources, selections, items and their results.

Used by the importer, the archive layouts, the records and the command, so none of them has to
import another to name a thing. No Django here, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pxeimport.lib import check_name

# The layout of a source that names none: the 2012 script's (pxeimport.layouts checks it is registered).
DEFAULT_LAYOUT = "debian-installer"


class ItemKind(StrEnum):
    """What an item installs. The values are stored in the database (Install.kind, ItemState.kind)."""

    LOADER = "loader"
    INSTALL = "install"

    @property
    def label(self) -> str:
        return {ItemKind.LOADER: "Pre-boot loader", ItemKind.INSTALL: "Installer kernel and initrd"}[self]


class Outcome(StrEnum):
    """How an item's run ended. All but PLANNED (a dry run's) are stored (ItemState.outcome)."""

    INSTALLED = "installed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    PLANNED = "planned"

    @property
    def label(self) -> str:
        return {
            Outcome.INSTALLED: "Installed a new version",
            Outcome.UNCHANGED: "Up to date",
            Outcome.SKIPPED: "Skipped",
            Outcome.FAILED: "Failed",
            Outcome.PLANNED: "Planned (dry run)",
        }[self]


@dataclass(frozen=True)
class Source:
    """An archive to import from. `key` is the caller's handle (a database id), carried through.

    Its indexes must be signed by a key in `keyrings` unless `verify_signatures` is off;
    `keyring_hint` says where a missing keyring comes from (a Debian package). `layout` names the
    archive layout (a key of pxeimport.layouts's registry).
    """

    name: str
    url: str
    installer_dir: str | None = None
    key: int | None = None
    keyrings: tuple[Path, ...] = ()
    keyring_hint: str = ""
    verify_signatures: bool = True
    layout: str = DEFAULT_LAYOUT
    # Layouts whose installer downloads the live ISO at boot: where nodes get it (a local mirror); None: upstream.
    iso_base_url: str | None = None
    # HTTP proxy for this source's URLs; None: http_proxy/https_proxy/no_proxy from the environment.
    proxy: str | None = None
    # Accept a Release past its Valid-Until (a frozen private mirror); every run warns.
    allow_expired_indexes: bool = False
    # Per arch, where the release dirs and loader packages are when not at `url` and `loader_archive`.
    arch_urls: ArchUrls = field(default_factory=lambda: ArchUrls())
    # Layouts that take pre-boot loaders from a signed package archive: its dists/ URL.
    loader_archive: str | None = None
    # Whether this source's pre-boot loaders are installed for its arches (one source per arch should).
    feeds_loaders: bool = True
    # Layouts that take an ISO from a checksum list: only the ISO with this SHA-256 (lower-case hex); "": any.
    iso_sha256: str = ""
    # Layouts whose installer takes packages from a repository its kernel options name (opensuse-iso's
    # install=, anaconda-iso's inst.repo=): its URL, {release} and {basearch} filled in; None: the layout's own.
    package_repo: str | None = None

    def loader_archive_for(self, arch: str) -> str | None:
        """The dists/ URL of the package archive `arch`'s loaders come from."""
        return dict(self.arch_urls.loaders).get(arch, self.loader_archive)

    def release_url(self, arch: str, release: str) -> str:
        """The directory of `release` for `arch`, with a trailing slash: the arch's template, else <url>/<release>/."""
        check_name("release", release)
        template = dict(self.arch_urls.releases).get(arch)
        if template is None:
            return f"{self.url.rstrip('/')}/{release}/"
        return template.replace("{release}", release).replace("{arch}", arch).rstrip("/") + "/"


@dataclass(frozen=True)
class ArchUrls:
    """Per-arch URLs of a source, where an arch's differ from the source's own (parsed by `parse_arch_urls`)."""

    # (arch, release dir template with {release})
    releases: tuple[tuple[str, str], ...] = ()
    # (arch, package archive dists/ URL for its loaders)
    loaders: tuple[tuple[str, str], ...] = ()


def parse_arch_urls(text: str) -> ArchUrls:
    """Lines "<arch> <release dir URL template with {release}> [<loader archive dists/ URL>]".

    E.g. "arm64 https://cdimage.ubuntu.com/releases/{release}/release/ http://ports.ubuntu.com/ubuntu-ports/dists/".
    Blank lines are ignored. ValueError naming the line when an arch is not a safe name or given
    twice, a URL is not http(s), the template lacks {release}, or a loader archive is not a dists/ URL.
    """
    releases: dict[str, str] = {}
    loaders: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) not in (2, 3):
            raise ValueError(f"line {number}: give an architecture, a URL template and optionally a loader archive")
        arch, template, *loader = words
        check_name("architecture", arch)
        if arch in releases:
            raise ValueError(f"line {number}: {arch} is given twice")
        if not template.startswith(("http://", "https://")) or "{release}" not in template:
            raise ValueError(f"line {number}: {template!r} must be an http(s) URL containing {{release}}")
        if loader and (not loader[0].startswith(("http://", "https://")) or not loader[0].endswith("/dists/")):
            raise ValueError(f"line {number}: {loader[0]!r} must be a package archive's http(s) URL ending dists/")
        releases[arch] = template
        if loader:
            loaders[arch] = loader[0]
    return ArchUrls(tuple(releases.items()), tuple(loaders.items()))


@dataclass(frozen=True)
class Item:
    """One atomic install: an arch's pre-boot loader, or one release's kernel and initrd."""

    source: Source
    arch: str
    release: str
    kind: ItemKind
    # For a release: the extra kernel options its boot menu entries get.
    kernel_opts: str = ""

    def __str__(self) -> str:
        if self.kind == ItemKind.LOADER:
            return f"{self.arch} pre-boot loader (from {self.release})"
        return f"{self.arch}/{self.release} install"


@dataclass(frozen=True)
class Selection:
    """What to import from one source. `kernel_opts` maps a release to its menu entries' options."""

    source: Source
    arches: tuple[str, ...]
    releases: tuple[str, ...]
    current_release: str
    kernel_opts: Mapping[str, str] = field(default_factory=dict)
    # When set, only these (arch, release) pairs of arches x releases: a rack mirroring its region's index,
    # which need not list every release for every arch (Debian 13 has no i386 installer).
    pairs: frozenset[tuple[str, str]] | None = None


@dataclass(frozen=True)
class FileResult:
    """One file of an item: its name in the TFTP root, SHA-256, origin URL, size in bytes."""

    name: str
    sha256: str
    url: str
    size: int | None
    downloaded: bool


@dataclass
class ItemResult:
    item: Item
    outcome: Outcome
    message: str = ""
    version: str | None = None
    previous_version: str | None = None
    files: list[FileResult] = field(default_factory=list)
    bytes_downloaded: int = 0
    path: Path | None = None
    # Fingerprint of the key whose signature vouched for the index; "" when checks are off.
    signed_by: str = ""
    # What was found damaged in the served set and repaired (a dry run: would be); "" when nothing was.
    repaired: str = ""
    # A failed item: what its place in the TFTP root still serves ("install-<v>"), read from the root; "" nothing.
    kept: str = ""
    # A failed item whose source does not offer its arch or release (a selection to fix): nothing is retired.
    not_offered: bool = False

    @property
    def to_download(self) -> list[FileResult]:
        return [f for f in self.files if f.downloaded]
