"""The region's publisher: links what its TFTP root serves under the publish root and writes the signed index.

The layout of the publish root and the index's format are publication.index's.

Clean-up: a rack reads an index, then fetches what it names, perhaps slowly; the region must not
delete those version dirs meanwhile. `Publisher.protected` keeps every version dir named by the
current index or one published within `keep_seconds`, whatever the TFTP root's grace period says.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pxeimport.lib import FILE_MODE, HashCache, remove_entry, write_atomic
from pxeimport.menus import BOOT_OPTIONS_FILE, BootMenus
from pxeimport.publication.index import (
    FILES_DIR,
    HISTORY,
    HTTP_DIR,
    HTTP_SUMS,
    INDEX,
    INSTALL,
    LOADER,
    Publication,
    PublishedFile,
    PublishedHttpFile,
    PublishedItem,
    item_path,
    read_published,
)
from pxeimport.tftproot import MANIFEST, HttpRoot, Slot, TftpRoot


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
        menus = BootMenus(self.root)
        for arch in self.root.arches():
            # Only what the arch's menus offer: a release retired (off the menus, its files waiting out the
            # grace period) or an arch taken out (its menus gone) is not published, so racks retire it too.
            offered = menus.offered(arch)
            if offered is None:
                continue
            loader = self._live_loader(arch)
            if loader is not None:
                items.append(loader)
            for release, dir_name in self.root.installed_releases(arch).items():
                if f"{release}/{dir_name}" not in offered:
                    continue
                slot = self.root.install_slot(arch, release)
                version = dir_name.removeprefix("install-")
                files = self._files(slot.version_dir(version))
                # The entry's options as the region's menus have them: carried by the version dir, then added.
                carried = slot.version_dir(version) / BOOT_OPTIONS_FILE
                chosen = kernel_opts.get((arch, release), "")
                opts = " ".join(filter(None, [carried.read_text().strip() if carried.is_file() else "", chosen]))
                item = PublishedItem(arch, INSTALL, release, version, "", files, opts)
                http = self._http_files(opts)
                items.append(PublishedItem(arch, INSTALL, release, version, item_path(item), files, opts, http))
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
        return PublishedItem(arch, LOADER, "", installed.version, item_path(item), files)

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
        # Compared as JSON reads it back (lists, not the tuples built here): equal content publishes nothing.
        changed = self.current() != json.loads(json.dumps(publication.content()))
        if changed:
            # Remembered first: a run killed between the two writes leaves a history naming more, never an
            # index whose paths the next run's prune (which reads the history) would take away.
            self._remember(publication)
            write_atomic(self.publish_root / INDEX, self.sign(publication.to_json()), FILE_MODE)
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
        """Paths ("v/amd64/bookworm/install-<v>/") the index on disk, the newest remembered or one within
        `keep_seconds` names (the index on disk itself: one written by a run killed before it remembered it)."""
        history = self._history()
        now = self.clock()
        on_disk = read_published(self.publish_root)
        items = on_disk.items if on_disk is not None else ()
        named = {i.path for i in items} | {_http_path(f) for i in items for f in i.http_files}
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
