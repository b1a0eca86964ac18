"""What the importer asks an archive layout, and the words a layout answers in.

A layout knows one upstream's shape: where its signed indexes are, how to verify and read them,
and which files an item needs from them. The importer knows none of that; it asks `Layout.wanted`
for each item and installs what comes back (after Django's one-class-per-job and MAAS's
`provisioningserver/boot/` BootMethod base with one module per method).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pxeimport.fetching import FetchError
from pxeimport.items import Item, Source
from pxeimport.layouts.releases import supported_releases
from pxeimport.lib import check_name

if TYPE_CHECKING:  # trust.py reads archive/release.py: import it for types only, no cycle at run time
    from pxeimport.fetching import Fetcher
    from pxeimport.tftproot import HttpRoot
    from pxeimport.trust import IndexVerifier


# What a loader cannot boot without, beside it (issue 12 item 6): pxelinux.0 of syslinux 5 and later
# loads ldlinux.c32 from its own directory ("Failed to load ldlinux.c32" otherwise); a shim chains
# to the GRUB beside it, named for its arch (shim's DEFAULT_LOADER). One table for every layout.
LOADER_NEEDS: dict[str, tuple[str, str]] = {
    "pxelinux.0": ("ldlinux.c32", 'syslinux 5 and later stop at "Failed to load ldlinux.c32"'),
    "bootx64.efi": ("grubx64.efi", "the shim finds no GRUB to chain to"),
    "bootnetx64.efi": ("grubx64.efi", "the shim finds no GRUB to chain to"),
    "bootaa64.efi": ("grubaa64.efi", "the shim finds no GRUB to chain to"),
    "bootnetaa64.efi": ("grubaa64.efi", "the shim finds no GRUB to chain to"),
    "bootia32.efi": ("grubia32.efi", "the shim finds no GRUB to chain to"),
    "bootnetia32.efi": ("grubia32.efi", "the shim finds no GRUB to chain to"),
}


def incomplete_loaders(names: Iterable[str]) -> list[tuple[str, str, str]]:
    """(loader, what it needs, what a node does without it) for each loader in `names` lacking its companion."""
    present = set(names)
    return [
        (name, *LOADER_NEEDS[name])
        for name in sorted(present)
        if name in LOADER_NEEDS and LOADER_NEEDS[name][0] not in present
    ]


class LayoutError(ValueError):
    """The archive's index lacks what this layout needs, or lists it in a shape the layout refuses."""


class NotOffered(LayoutError):
    """The source does not offer what the selection names (an arch or a release), judged from its verified
    index (or, for a release with no index at all, from distro-info's names): a selection to fix, not a
    mirror's trouble. `offered`: what it does offer instead, for the message; empty when unknown."""

    def __init__(self, message: str, *, offered: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.offered = tuple(offered)


@dataclass(frozen=True)
class RemoteFile:
    """A file to install: the name it gets in the TFTP root, where it comes from, its SHA-256 (hex), and its size
    in bytes when the index gives it (a region's)."""

    name: str
    url: str
    sha256: str
    size: int | None = None


# The kinds of container the importer can take members out of (pxeimport.importer.containers has an extractor each);
# a "file" has no members: it is only kept in the HTTP root (a rack's copy of the region's ISO).
CONTAINER_KINDS = ("tar", "iso", "deb", "file")


@dataclass(frozen=True)
class Container:
    """A verified file (tarball, ISO image, .deb) to download once and take `members` out of.

    `members` maps a name in the TFTP root to the member paths to try, first present wins (Ubuntu's
    and Debian's signed shim have different paths). Names in `optional` may be absent from the
    container (an ISO with no HWE kernel); the others must be there. `free_bytes`: the free space
    the staging filesystem needs before the download starts (an ISO is ~3 GB). `publish_as`: a
    path below the HTTP root where the verified container itself is kept for nodes to fetch (the
    ISO the installer downloads at boot); "" keeps nothing. `publish_members`: members also kept in the
    HTTP root, {name: path below images/} (Anaconda's installer image, fetched after the kernel starts).
    """

    remote: RemoteFile
    kind: str
    members: Mapping[str, tuple[str, ...]]
    optional: frozenset[str] = frozenset()
    free_bytes: int = 0
    publish_as: str = ""
    publish_members: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CONTAINER_KINDS:
            raise LayoutError(f"unknown container kind {self.kind!r} (known: {', '.join(CONTAINER_KINDS)})")
        if any(not paths for paths in self.members.values()):
            raise LayoutError(f"{self.remote.url}: every member needs at least one path")
        if self.kind == "file" and (self.members or not self.publish_as):
            raise LayoutError(f"{self.remote.url}: a file container has no members and is kept in the HTTP root")
        if not set(self.publish_members) <= set(self.members) - self.optional:
            raise LayoutError(f"{self.remote.url}: only members it must hold can be kept in the HTTP root")

    @property
    def kept_paths(self) -> tuple[str, ...]:
        """Every path below the HTTP root's images/ this container keeps there (itself, members)."""
        return tuple(filter(None, (self.publish_as, *self.publish_members.values())))

    def identity(self, name: str) -> str:
        """What determines the member's bytes: the container's hash and the paths tried."""
        return f"{self.remote.sha256}:{'|'.join(self.members[name])}"


@dataclass(frozen=True)
class BootEntry:
    """One boot menu entry of a release: a label suffix ("" for the main entry, "hwe" gives
    "<release>-hwe") and the kernel and initrd file names in the release's version dir. An entry
    whose files the version dir lacks (an optional member absent) is left out of the menus. `title`:
    what the menus say the entry boots beside its label ("AlmaLinux 9.5"), when the release's name
    does not say it; "" says "the <label> installer"."""

    suffix: str
    kernel: str
    initrd: str
    title: str = ""


@dataclass(frozen=True)
class Wanted:
    """What one item needs, whatever the layout: files to fetch, members of containers, generated files.

    `identity` names each file by what determines its bytes (its listed hash; the container's hash
    and the member path; the generated content's hash), so the version is known before any download.
    `boot_options` are kernel options the item's menu entries need whatever the operator adds
    (e.g. where the installer downloads its ISO); `entries` are its menu entries when it has more
    than the one default entry (linux + initrd[.gz]). Both are kept in the version dir, so a change
    of them makes a new version. `skip` says why there is nothing to install (no loader for an arch).
    `tarball` + `members` is the one-tarball short form of a "tar" container.
    """

    files: list[RemoteFile] = field(default_factory=list)
    tarball: RemoteFile | None = None
    members: dict[str, str] = field(default_factory=dict)
    containers: tuple[Container, ...] = ()
    generated: dict[str, bytes] = field(default_factory=dict)
    boot_options: str = ""
    entries: tuple[BootEntry, ...] = ()
    signed_by: str = ""
    skip: str = ""
    # Called with {name: path} and {name: SHA-256} of the new version's files before it is installed; raises
    # LayoutError when they disagree with what the container itself lists (Anaconda's .treeinfo).
    check_files: Callable[[Mapping[str, Path], Mapping[str, str]], None] | None = field(default=None, compare=False)

    @property
    def all_containers(self) -> tuple[Container, ...]:
        if self.tarball is None:
            return self.containers
        tar = Container(self.tarball, "tar", {name: (member,) for name, member in self.members.items()})
        return (tar, *self.containers)

    @property
    def identity(self) -> dict[str, str]:
        identity = {f.name: f.sha256 for f in self.files}
        for container in self.all_containers:
            identity |= {name: container.identity(name) for name in container.members}
        return identity | {name: hashlib.sha256(data).hexdigest() for name, data in self.generated.items()}

    def check_loader_set(self) -> None:
        """LayoutError when a loader comes without the file it needs beside it (LOADER_NEEDS).

        Called for a loader item before anything is fetched, so the working set stays served.
        """
        missing = incomplete_loaders(self.identity)
        if missing:
            said = "; ".join(
                f"{self.origin(loader)} has no {needed} beside it ({why})" for loader, needed, why in missing
            )
            raise LayoutError(f"incomplete pre-boot loader set, not installed: {said}")

    @property
    def optional(self) -> frozenset[str]:
        """Names of `identity` that may be missing from an installed version (absent optional members)."""
        return frozenset().union(*(c.optional for c in self.all_containers))

    def origin(self, name: str) -> str:
        for f in self.files:
            if f.name == name:
                return f.url
        for container in self.all_containers:
            if name in container.members:
                return f"{container.remote.url}#{container.members[name][0]}"
        return "generated by pxeimport"


class Layout(ABC):
    """One upstream layout. One instance per run: it may cache what it fetched (indexes) for that run.

    Subclasses set `name` (stored in BootSource.layout and given to --layout) and `label` (the admin's
    choice text), and implement `wanted`. Index problems raise the errors in pxeimport.importer.run's
    INDEX_ERRORS (FetchError, LayoutError, SignatureError, ...): they fail that item only.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    # With --archive: the command-line options this layout cannot do without (it has no default for
    # them), and the layout-specific ones it reads. pxeimport.importer.usage refuses a run that lacks one of the
    # first, or gives a layout-specific option this layout does not read, before any request (exit 2).
    needs_options: ClassVar[tuple[str, ...]] = ()
    reads_options: ClassVar[tuple[str, ...]] = ()
    # Whether this layout installs pre-boot loaders at all; a source of one that does not never feeds them.
    has_loaders: ClassVar[bool] = True
    # Whether a selection must name its releases (distro-info knows none of this layout's distributions).
    names_releases: ClassVar[bool] = False
    # The architectures it can import (Debian's names); () for any the upstream offers.
    arches: ClassVar[tuple[str, ...]] = ()
    # Set when Debian's and Ubuntu's archive keyrings never sign this layout's indexes: which keyring a
    # source of it needs instead (said when none is given, on the command line and in the admin).
    own_keyring: ClassVar[str] = ""

    def __init__(
        self,
        fetcher: Fetcher,
        verifier: Callable[[Source], IndexVerifier],
        http_root: HttpRoot | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.verifier = verifier
        # Where files nodes fetch over HTTP are kept (PXEIMPORT_HTTP_ROOT), and at which URL; None: not set.
        self.http_root = http_root

    def detached_signed_text(self, item: Item, index_url: str) -> tuple[str, str]:
        """(text, signing key's fingerprint) of an index with a detached `<index_url>.gpg` beside it.

        The fingerprint is "" when the source's signature checks are off. SignatureError (from the
        verifier) when the signature is missing, bad or stale; FetchError when the index is not UTF-8.
        """
        data = self.fetcher.get_bytes(index_url)
        signed_by = ""
        if item.source.verify_signatures:
            signed_by = self.verifier(item.source).verify_detached_index(index_url, data)
        try:
            return data.decode("utf-8"), signed_by
        except UnicodeDecodeError as exc:
            raise FetchError(index_url, "index is not UTF-8 text") from exc

    @abstractmethod
    def wanted(self, item: Item) -> Wanted:
        """The files `item` needs now, with hashes from the verified index chain."""

    @classmethod
    def source_problem(cls, url: str, package_repo: str, arch_urls: str = "") -> str:
        """Why a source of this layout with this URL, package repository and per-arch URLs cannot work; "" when
        it may."""
        return ""

    @classmethod
    def release_problem(cls, release: str) -> str:
        """Why this layout cannot import a release named `release`, whatever the upstream offers; "" when it may."""
        return ""

    @classmethod
    def default_releases(cls, distribution: str) -> list[str]:
        """The releases a source of this layout imports when none are selected (distro-info's supported)."""
        return supported_releases(distribution)


_LIVE_SERVER_ISO = re.compile(r"ubuntu-\d+\.\d+(?:\.\d+)?-live-server-([a-z0-9][a-z0-9.+_-]*)\.iso")


def upstream_arch(arch: str, names: Mapping[str, str], layout: str, theirs: str, where: str = "") -> str:
    """The upstream's name for Debian's `arch` (`names`: Debian's -> the upstream's, called `theirs`, e.g.
    "RPM's"); NotOffered saying what `layout` imports (`where`: from which path) when it has none."""
    check_name("architecture", arch)
    if arch not in names:
        known = f"{', '.join(names)} ({theirs} {', '.join(names.values())})"
        raise NotOffered(f"{layout} imports {known}{where}, not {arch}", offered=list(names))
    return names[arch]


def not_offered_arch(names: Iterable[str], arch: str, where: str) -> NotOffered:
    """A signed Ubuntu SHA256SUMS (`where`) lists no live-server ISO for `arch`: NotOffered, naming the arches
    whose ISOs it does list (ubuntu-iso, ubuntu-netboot)."""
    offered = sorted({m.group(1) for name in names if (m := _LIVE_SERVER_ISO.fullmatch(name))})
    also = f"; it offers {', '.join(offered)}" if offered else ""
    return NotOffered(f"{where} lists no live-server ISO for {arch}{also}", offered=offered)
