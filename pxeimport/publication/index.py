"""The region's publication: what its TFTP root serves, as a signed index racks import from.

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

Clean-up: a rack reads an index, then fetches what it names, perhaps slowly; the region must not
delete those version dirs meanwhile. `Publisher.protected` keeps every version dir named by the
current index or one published within `keep_seconds`, whatever the TFTP root's grace period says.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pxeimport.lib.files import FILE_MODE, remove_entry, write_atomic
from pxeimport.lib.hashcache import HashCache
from pxeimport.lib.names import InvalidName, check_name
from pxeimport.menus.writer import BOOT_OPTIONS_FILE
from pxeimport.tftproot.httproot import HttpRoot, HttpRootError, check_relative
from pxeimport.tftproot.root import MANIFEST, Slot, TftpRoot

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
    expected = _item_path(item)
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


def _item_path(item: PublishedItem) -> str:
    middle = f"{item.arch}/{item.release}" if item.kind == INSTALL else item.arch
    return f"{FILES_DIR}/{middle}/{item.dir_name}/"


@dataclass(frozen=True)
class Published:
    """What `Publisher.publish` did: `changed` is False when the live sets were already published."""

    publication: Publication
    changed: bool
    path: Path


class Publisher:
    """Publishes what `root` serves into `publish_root`, signed by `sign` (bytes -> clearsigned bytes)."""

    def __init__(
        self,
        root: TftpRoot,
        publish_root: Path,
        sign: Callable[[bytes], bytes],
        *,
        keep_seconds: float,
        clock: Callable[[], float] = time.time,
        http_root: HttpRoot | None = None,
    ) -> None:
        """`http_root`: the region's PXEIMPORT_HTTP_ROOT, whose files its menus name are published too."""
        self.root = root
        self.http_root = http_root
        self._sums = HashCache(publish_root / HTTP_SUMS)
        self.publish_root = publish_root
        self.sign = sign
        self.keep_seconds = keep_seconds
        self.clock = clock

    def live(self, current_release: str, kernel_opts: Mapping[tuple[str, str], str]) -> Publication:
        """What the TFTP root serves now; `kernel_opts`: (arch, release) -> the menus' added options."""
        items: list[PublishedItem] = []
        arches = sorted(p.parent.name for p in self.root.maas.glob("*/base") if p.is_dir() and not p.is_symlink())
        for arch in arches:
            loader = self._live_loader(arch)
            if loader is not None:
                items.append(loader)
            for release, dir_name in self.root.installed_releases(arch).items():
                slot = self.root.install_slot(arch, release)
                version = dir_name.removeprefix("install-")
                files = self._files(slot.version_dir(version))
                # The entry's options as the region's menus have them: carried by the version dir, then added.
                carried = slot.version_dir(version) / BOOT_OPTIONS_FILE
                chosen = kernel_opts.get((arch, release), "")
                opts = " ".join(filter(None, [carried.read_text().strip() if carried.is_file() else "", chosen]))
                item = PublishedItem(arch, INSTALL, release, version, "", files, opts)
                http = self._http_files(opts)
                items.append(PublishedItem(arch, INSTALL, release, version, _item_path(item), files, opts, http))
        return Publication(datetime.fromtimestamp(self.clock(), UTC), current_release, tuple(items))

    def _http_files(self, opts: str) -> tuple[PublishedHttpFile, ...]:
        """The HTTP root's files `opts` names by URL (the ISO of iso-url), hashed once (HashCache)."""
        if self.http_root is None:
            return ()
        found = []
        for path in sorted(self.http_root.named([opts])):
            if self.http_root.has(path):
                digest, size = self._sums.sha256(self.http_root.path_for(path))
                found.append(PublishedHttpFile(path, digest, size, self.http_root.url_for(path)))
        return tuple(found)

    def _live_loader(self, arch: str) -> PublishedItem | None:
        slot = self.root.loader_slot(arch)
        names = []
        for entry in os.scandir(slot.parent):
            if entry.is_symlink():
                head, _, tail = os.readlink(entry.path).partition("/")
                if slot.parse_version(head) and tail == entry.name:
                    names.append(entry.name)
        installed = self.root.installed(slot, names) if names else None
        if installed is None or installed.version is None:
            return None
        files = self._files(slot.version_dir(installed.version))
        item = PublishedItem(arch, LOADER, "", installed.version, "", files)
        return PublishedItem(arch, LOADER, "", installed.version, _item_path(item), files)

    @staticmethod
    def _files(version_dir: Path) -> tuple[PublishedFile, ...]:
        files = []
        for line in (version_dir / MANIFEST).read_text().splitlines():
            digest, _, name = line.partition("  ")
            files.append(PublishedFile(name, digest, (version_dir / name).stat().st_size))
        return tuple(files)

    def current(self) -> dict[str, Any] | None:
        """The content of the index published last (unsigned part, as the region wrote it); None if none."""
        try:
            text = (self.publish_root / INDEX).read_bytes()
        except FileNotFoundError:
            return None
        start, end = text.find(b"{"), text.rfind(b"}")
        try:
            raw = json.loads(text[start : end + 1])
        except ValueError:
            return None
        return {"current_release": raw.get("current_release"), "items": raw.get("items")}

    def publish(self, current_release: str, kernel_opts: Mapping[tuple[str, str], str]) -> Published:
        """Link the live version dirs, then sign and write the index (only when its content changed).

        Links come first, so an index never names a path that is not served yet. OSError or the
        signer's error propagate: the previous index stays.
        """
        publication = self.live(current_release, kernel_opts)
        self.publish_root.mkdir(parents=True, exist_ok=True)
        for item in publication.items:
            self._link(item)
            for http_file in item.http_files:
                self._link_http(http_file)
        if self.http_root is not None:
            self._sums.save(self.http_root.path_for(f.path) for i in publication.items for f in i.http_files)
        changed = self.current() != publication.content()
        if changed:
            write_atomic(self.publish_root / INDEX, self.sign(publication.to_json()), FILE_MODE)
            self._remember(publication)
        self._prune()
        return Published(publication, changed, self.publish_root / INDEX)

    def _link(self, item: PublishedItem) -> None:
        base = self.root.base_dir(item.arch)
        target = (base / item.release / item.dir_name) if item.kind == INSTALL else (base / item.dir_name)
        self._symlink(self.publish_root / item.path.rstrip("/"), target)

    def _link_http(self, http_file: PublishedHttpFile) -> None:
        assert self.http_root is not None
        self._symlink(self.publish_root / HTTP_DIR / http_file.path, self.http_root.path_for(http_file.path))

    @staticmethod
    def _symlink(link: Path, target: Path) -> None:
        """`link` -> `target`, replaced in one rename when it pointed elsewhere."""
        if os.path.islink(link) and os.readlink(link) == str(target):
            return
        link.parent.mkdir(parents=True, exist_ok=True)
        temporary = link.with_name(f".{link.name}.new")
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, link)

    def _history(self) -> list[dict[str, Any]]:
        try:
            history = json.loads((self.publish_root / HISTORY).read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [h for h in history if isinstance(h, dict) and isinstance(h.get("published"), int | float)]

    def _remember(self, publication: Publication) -> None:
        now = self.clock()
        named = sorted(
            [i.path for i in publication.items] + [_http_path(f) for i in publication.items for f in i.http_files]
        )
        history = [h for h in self._history() if now - h["published"] < self.keep_seconds]
        history.append({"published": now, "paths": named})
        write_atomic(self.publish_root / HISTORY, json.dumps(history, indent=1).encode())

    def _named(self) -> set[str]:
        """Paths ("v/amd64/bookworm/install-<v>/") the newest index or one within `keep_seconds` names."""
        history = self._history()
        now = self.clock()
        named: set[str] = set()
        for index, entry in enumerate(history):
            if index == len(history) - 1 or now - entry["published"] < self.keep_seconds:
                named |= {p for p in entry.get("paths", []) if isinstance(p, str)}
        return named

    def protected(self, slot: Slot) -> frozenset[str]:
        """Version dir names under `slot.parent` that racks may still fetch: keep them (the importer's hook)."""
        parts = slot.parent.relative_to(self.root.maas).parts  # (arch, "base"[, release])
        prefix = "/".join((FILES_DIR, parts[0], *parts[2:])) + "/"
        rests = (p[len(prefix) :].rstrip("/") for p in self._named() if p.startswith(prefix))
        return frozenset(rest for rest in rests if rest and "/" not in rest)

    def _prune(self) -> None:
        """Remove links no kept index names (their version dirs may go with the grace period)."""
        named = {p.rstrip("/") for p in self._named()}
        for top in (FILES_DIR, HTTP_DIR):
            # Links to dirs are listed in dirs, not followed; bottom-up, so dirs left empty go too.
            for directory, dirs, names in os.walk(self.publish_root / top, topdown=False):
                for name in dirs + names:
                    link = Path(directory) / name
                    if link.is_symlink() and link.relative_to(self.publish_root).as_posix() not in named:
                        remove_entry(link)
                    elif top == HTTP_DIR and link.is_dir() and not link.is_symlink() and not any(link.iterdir()):
                        link.rmdir()


def _http_path(http_file: PublishedHttpFile) -> str:
    return f"{HTTP_DIR}/{http_file.path}"


def read_published(publish_root: Path) -> Publication | None:
    """The region's own current index (it wrote it; the JSON inside the signed block), None when none or unreadable."""
    try:
        text = (publish_root / INDEX).read_bytes()
        return parse(text[text.find(b"{") : text.rfind(b"}") + 1], name=str(publish_root / INDEX))
    except (OSError, PublicationError):
        return None
