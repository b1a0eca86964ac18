"""The region layout: a rack imports what a pxeimport region publishes (pxeimport.publication.publisher).

`<url>/index.asc` is a clearsigned JSON index, checked with gpgv against the region's keyring
(`manage.py export_region_keyring` on the region writes it). Its `date` is inside the signature: an index
older than the newest one trusted from that URL is refused as a replay (pxeimport.trust.freshness), and
one dated more than an hour ahead as not valid yet. Each item's files come from the region's
immutable version dir `<url>/<path><name>`, verified against the index's SHA-256 as they arrive;
what the rack already has is linked, not fetched (the importer's reuse).

The rack's menu entries get the region's options: the version dir's own boot-options file is not
copied; the index's `kernel_opts` (everything the region's entry has) is written in its place. So
with no options at all a rack's version id is the region's; with options it differs, by design.

Files the region's entries name in its HTTP root (`http_files`: the ISO the installer downloads at
boot from `iso-url`) are fetched from `<url>/http/<path>`, verified by the index's SHA-256 (at most
once: a copy already kept is not fetched again) and kept in the rack's own HTTP root
(PXEIMPORT_HTTP_ROOT) at the same path; the options then name the rack's URL (PXEIMPORT_HTTP_URL)
instead of the region's, so the rack's nodes boot with the region or its link down. A rack without
an HTTP root keeps the region's URL (and warns): its nodes then need the region to install.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pxeimport.fetching import Fetcher
from pxeimport.items import Item, ItemKind, Source
from pxeimport.layouts.base import Container, Layout, LayoutError, RemoteFile, Wanted
from pxeimport.lib import Once
from pxeimport.menus import BOOT_OPTIONS_FILE
from pxeimport.publication import (
    HTTP_DIR,
    INDEX,
    INSTALL,
    LOADER,
    Publication,
    PublicationError,
    PublishedItem,
    parse,
)
from pxeimport.trust import Freshness, check_dates, check_keyrings, verify_clearsigned

NAME = "region"

log = logging.getLogger(__name__)

# Indexes a caller fetched moments before the import (index_given), by the region's URL without "/".
_given: dict[str, tuple[bytes, str | None]] = {}
_given_lock = threading.Lock()


@contextmanager
def index_given(url: str, data: bytes, content_type: str | None = None) -> Iterator[None]:
    """Within the block, a Region layout takes `data` as `<url>/index.asc` instead of fetching it again.

    For a rack's converge (pxeimport.racks.rack), which reads the index for its selection just before
    the import: one fetch per converge, and the import installs the very index the report describes.
    The layout checks `data` exactly as if it had fetched it (gpgv, Date, replays). `content_type`:
    as served, for the message when `data` is not signed. One block per URL at a time.
    """
    key = url.rstrip("/")
    with _given_lock:
        _given[key] = (data, content_type)
    try:
        yield
    finally:
        with _given_lock:
            _given.pop(key, None)


def signed_index(source: Source, fetcher: Fetcher) -> tuple[Publication, str]:
    """The region's index at `<source.url>/index.asc` (given by index_given, else fetched), its signature
    checked with gpgv against `source.keyrings`, and the fingerprint of the key that signed it.

    Its Date is not judged here (the Region layout does, against replays). FetchError, SignatureError,
    KeyringError propagate; LayoutError when the signed text is not a region index.
    """
    url = source.url.rstrip("/") + "/" + INDEX
    with _given_lock:
        given = _given.get(source.url.rstrip("/"))
    if given is None:
        data, content_type = fetcher.get_bytes(url), fetcher.content_type(url)
    else:
        data, content_type = given
    # Always verified: a rack has no other check on what its nodes will boot.
    hint = source.keyring_hint or "the region's `manage.py export_region_keyring FILE`"
    check_keyrings(source.keyrings, hint=hint)
    verified = verify_clearsigned(data, source.keyrings, name=url, content_type=content_type)
    try:
        return parse(verified.content, name=url), verified.fingerprint
    except PublicationError as exc:
        raise LayoutError(str(exc)) from exc


class Region(Layout):
    """<url>/index.asc (gpgv, fresh) -> per item a version dir of the region -> files by SHA-256."""

    name = NAME
    # Without --arch and --release a rack mirrors the index: it imports exactly the (arch, release) pairs the
    # index lists and retires the rest (pxeimport.runs.context). No distro-info default fits a narrowed run.
    label = "a pxeimport region, for a rack (URL: the region's PXEIMPORT_PUBLISH_URL; its keyring)"
    own_keyring = (
        "the region's keyring (manage.py export_region_keyring on the region); a distribution's keyring never "
        "signs a region's index"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: Once[str, tuple[Publication, str]] = Once()

    @classmethod
    def default_releases(cls, distribution: str) -> list[str]:
        raise LayoutError(
            "the region layout has no default releases: give --release with --arch, or neither to mirror "
            "exactly what the region's index lists (as rack_worker and converge_rack do)"
        )

    def publication(self, source: Source) -> tuple[Publication, str]:
        """The region's verified, fresh index and the key that signed it, fetched once per run."""
        return self._indexes.get(source.url, lambda: self._fetch(source))

    def _fetch(self, source: Source) -> tuple[Publication, str]:
        url = source.url.rstrip("/") + "/" + INDEX
        publication, fingerprint = signed_index(source, self.fetcher)
        verifier = self.verifier(source)
        freshness = Freshness(publication.date)
        check_dates(url, freshness, datetime.fromtimestamp(verifier.clock(), UTC))
        if verifier.freshness is not None:
            verifier.freshness.check(url, url, publication.date)
            verifier.freshness.record(url, publication.date)
        return publication, fingerprint

    def wanted(self, item: Item) -> Wanted:
        publication, signed_by = self.publication(item.source)
        if item.kind == ItemKind.LOADER:
            found = publication.item(item.arch, LOADER)
            if found is None:
                return Wanted(skip=f"the region {item.source.url} publishes no pre-boot loader for {item.arch}")
        else:
            found = publication.item(item.arch, INSTALL, item.release)
            if found is None:
                listed = ", ".join(f"{i.arch}/{i.release}" for i in publication.items if i.kind == INSTALL) or "none"
                where = f"{item.source.url.rstrip('/')}/{INDEX}"
                raise LayoutError(f"{where} does not publish {item.arch}/{item.release} (it lists {listed})")
        base = item.source.url.rstrip("/") + "/" + found.path
        files = [RemoteFile(f.name, base + f.name, f.sha256) for f in found.files if f.name != BOOT_OPTIONS_FILE]
        kept, options = self._http_files(item, found)
        return Wanted(files=files, containers=kept, boot_options=options, signed_by=signed_by)

    def _http_files(self, item: Item, found: PublishedItem) -> tuple[tuple[Container, ...], str]:
        """The region's HTTP root files to keep in this rack's, and the options naming the rack's copies."""
        options = found.kernel_opts
        if not found.http_files:
            return (), options
        if self.http_root is None:
            log.warning(
                "%s: no PXEIMPORT_HTTP_ROOT on this rack: its menus name the region's %s, so nodes need the region",
                item,
                ", ".join(f.node_url for f in found.http_files),
            )
            return (), options
        kept = []
        for f in found.http_files:
            url = f"{item.source.url.rstrip('/')}/{HTTP_DIR}/{f.path}"
            remote = RemoteFile(f.path.rsplit("/", 1)[-1], url, f.sha256, f.size)
            kept.append(Container(remote, "file", {}, free_bytes=f.size, publish_as=f.path))
            options = _rebased(options, f.node_url, f.path, self.http_root.url_for)
        return tuple(kept), options


def _rebased(options: str, node_url: str, path: str, url_for: Callable[[str], str]) -> str:
    """`options` with the region's URL of the file at `path` (`node_url`), or of a directory above it
    (Anaconda's inst.stage2 names the directory of images/install.img), made this rack's (`url_for`).
    Whole URLs only (followed by a blank or the end), never a prefix of a longer one."""
    if not node_url.endswith(path):
        return options
    region = node_url[: -len(path)]
    parts = path.split("/")
    for depth in range(len(parts), 0, -1):
        below = "/".join(parts[:depth])
        ending = "" if depth == len(parts) else "/"
        options = re.sub(re.escape(region + below + ending) + r"(?=\s|$)", url_for(below) + ending, options)
    return options
