"""The region's index: what its TFTP root serves, as signed JSON racks import from; its format, parsed strictly.

Under the publish root (PXEIMPORT_PUBLISH_ROOT, served as PXEIMPORT_PUBLISH_URL):

    index.asc                                  the index: JSON, clearsigned by the region's key
    v/<arch>/<release>/install-<version>  ->   <tftproot>/maas/<arch>/base/<release>/install-<version>
    v/<arch>/_loader-<version>            ->   <tftproot>/maas/<arch>/base/_loader-<version>
    http/<path>                           ->   <HTTP root>/images/<path>  (an ISO the menus' iso-url names)
    .history.json                              when each index was published and which version dirs it named
    .http-sums.json                            the HTTP root files' SHA-256, hashed once (pxeimport.lib.hashcache)

Files are never copied: each link names one immutable version dir of the TFTP root, so a URL
always means the same bytes (cache it forever) and the database holds none. The index lists per
arch the live loader set and per arch x release the live kernel and initrd: version id, each
file's name, SHA-256 and size, and the options its menu entries get; its `date` (inside the
signature) lets racks refuse a replayed older index, as apt does with Release's Date.

A release whose entries name a file of the region's HTTP root (PXEIMPORT_HTTP_ROOT: the ISO of
ubuntu-iso's `iso-url`) lists it under `http_files` (path below images/, SHA-256, size, the URL the
options name); a rack keeps its own verified copy and names its own URL (archive.region).

"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pxeimport.lib import InvalidName, check_name
from pxeimport.tftproot import HttpRootError, check_relative

INDEX = "index.asc"
FILES_DIR = "v"
HTTP_DIR = "http"
HISTORY = ".history.json"
HTTP_SUMS = ".http-sums.json"
FORMAT = 1
LOADER = "loader"
INSTALL = "install"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9a-f]{16}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


class PublicationError(ValueError):
    """An index that is not what a region writes (bad JSON, a missing field, an unsafe name)."""


@dataclass(frozen=True)
class PublishedFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PublishedHttpFile:
    """A file of the region's HTTP root a release's menu entries name: `path` below images/, served
    by the publish root at http/<path>; `node_url`: the URL the region's options name it by."""

    path: str
    sha256: str
    size: int
    node_url: str


@dataclass(frozen=True)
class PublishedItem:
    """One live set: an arch's loaders (`release` "") or one release's kernel and initrd.

    `path` is the version dir relative to the publish root, ending in "/"; `kernel_opts` are the
    options of the region's menu entries for it, all of them: those the version dir carries (its
    boot-options file, listed among `files` too) and those the region's operator added.
    """

    arch: str
    kind: str
    release: str
    version: str
    path: str
    files: tuple[PublishedFile, ...]
    kernel_opts: str = ""
    http_files: tuple[PublishedHttpFile, ...] = ()

    @property
    def dir_name(self) -> str:
        return f"install-{self.version}" if self.kind == INSTALL else f"_loader-{self.version}"


@dataclass(frozen=True)
class Publication:
    """The index. `date`: when it was published (UTC); `current_release`: where the loaders came from."""

    date: datetime
    current_release: str
    items: tuple[PublishedItem, ...] = field(default_factory=tuple)

    def content(self) -> dict[str, Any]:
        """What the index says apart from its date: two indexes with the same content publish nothing new."""
        return {"current_release": self.current_release, "items": [asdict(i) for i in self.items]}

    def to_json(self) -> bytes:
        data = {"format": FORMAT, "date": self.date.astimezone(UTC).isoformat(), **self.content()}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    def item(self, arch: str, kind: str, release: str = "") -> PublishedItem | None:
        return next((i for i in self.items if (i.arch, i.kind, i.release) == (arch, kind, release)), None)

    @property
    def arches(self) -> list[str]:
        return list(dict.fromkeys(i.arch for i in self.items))

    @property
    def releases(self) -> list[str]:
        return list(dict.fromkeys(i.release for i in self.items if i.kind == INSTALL))


def parse(data: bytes, *, name: str) -> Publication:
    """The index in `data` (the signed text gpgv returned); PublicationError saying what is wrong, from `name`."""
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise PublicationError(f"{name}: not a pxeimport region index of format {FORMAT}")
        date = datetime.fromisoformat(_text(raw, "date"))
        if date.tzinfo is None:
            raise PublicationError(f"{name}: its date has no time zone")
        items = tuple(_item(entry) for entry in raw["items"])
        current = _text(raw, "current_release")
    except (ValueError, KeyError, TypeError, InvalidName) as exc:
        if isinstance(exc, PublicationError):
            raise
        raise PublicationError(f"{name}: not a valid region index: {exc}") from exc
    return Publication(date, current, items)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise PublicationError(f"{key} is not text")
    return value


def _item(raw: Mapping[str, Any]) -> PublishedItem:
    arch = check_name("architecture", _text(raw, "arch"))
    kind = _text(raw, "kind")
    release = _text(raw, "release")
    version = _text(raw, "version")
    if kind not in (LOADER, INSTALL) or not _VERSION.fullmatch(version):
        raise PublicationError(f"item {arch}/{release}: kind {kind!r} or version {version!r} is not valid")
    if kind == INSTALL:
        check_name("release", release)
    elif release:
        raise PublicationError(f"the {arch} loaders name a release ({release!r})")
    files = []
    for f in raw["files"]:
        name, digest, size = _text(f, "name"), _text(f, "sha256"), f["size"]
        if not _FILE_NAME.fullmatch(name) or not _SHA256.fullmatch(digest) or not isinstance(size, int) or size < 0:
            raise PublicationError(f"item {arch}/{release}: file {name!r} has a bad name, hash or size")
        files.append(PublishedFile(name, digest, size))
    item = PublishedItem(arch, kind, release, version, "", tuple(files), _text(raw, "kernel_opts"))
    expected = item_path(item)
    if _text(raw, "path") != expected:
        raise PublicationError(f"item {arch}/{release}: path {raw['path']!r} is not {expected!r}")
    http_files = tuple(_http_file(f, f"item {arch}/{release}") for f in raw.get("http_files", []))
    return PublishedItem(arch, kind, release, version, expected, tuple(files), item.kernel_opts, http_files)


def _http_file(raw: Mapping[str, Any], where: str) -> PublishedHttpFile:
    """One entry of `http_files` (an index of format 1 without the key has none: older regions)."""
    path, digest, size, url = _text(raw, "path"), _text(raw, "sha256"), raw["size"], _text(raw, "node_url")
    try:
        check_relative(path)
    except HttpRootError as exc:
        raise PublicationError(f"{where}: {exc}") from exc
    if not _SHA256.fullmatch(digest) or not isinstance(size, int) or size < 0:
        raise PublicationError(f"{where}: HTTP file {path!r} has a bad hash or size")
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise PublicationError(f"{where}: HTTP file {path!r} has a bad URL {url!r}")
    return PublishedHttpFile(path, digest, size, url)


def item_path(item: PublishedItem) -> str:
    """Where an item's version dir is linked under the publish root: v/<arch>[/<release>]/<dir>/."""
    middle = f"{item.arch}/{item.release}" if item.kind == INSTALL else item.arch
    return f"{FILES_DIR}/{middle}/{item.dir_name}/"


def read_published(publish_root: Path) -> Publication | None:
    """The region's own current index (it wrote it; the JSON inside the signed block), None when none or unreadable."""
    try:
        text = (publish_root / INDEX).read_bytes()
        return parse(text[text.find(b"{") : text.rfind(b"}") + 1], name=str(publish_root / INDEX))
    except (OSError, PublicationError):
        return None
