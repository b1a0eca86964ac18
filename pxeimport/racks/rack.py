"""A rack's converge: read the region's index, run import_pxe_files --layout region, say what happened.

The selection comes from the region's index itself (its arches, releases and the release its
loaders came from), so a rack needs no boot sources of its own; the import then takes the same
bytes (one fetch per converge) and checks them again, fully (signature, Date against replays,
every file's SHA-256), swaps atomically and records the run in the rack's own database. The
report (a dict, JSON-safe) goes to the region's queue; the rack never holds database credentials
for the region.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum
from django.utils import timezone

from pxeimport.fetching import Fetcher, FetchError, FetchSettings
from pxeimport.items import ItemKind, Outcome
from pxeimport.layouts import index_given
from pxeimport.lib import EXIT_LOCKED
from pxeimport.models import ImportRun, InstalledFile, ItemState
from pxeimport.publication import INDEX, LOADER, Publication, PublicationError, parse
from pxeimport.trust import SignatureError, verify_clearsigned


@dataclass(frozen=True)
class RackConfig:
    name: str
    tftproot: Path
    region_url: str
    keyring: Path

    @property
    def queue(self) -> str:
        return f"{settings.PXEIMPORT_RACK_QUEUE_PREFIX}{self.name}"


_current: RackConfig | None = None


def configure(config: RackConfig) -> None:
    """Set this process's rack (rack_worker does, before the worker starts)."""
    global _current
    _current = config


def current_rack() -> RackConfig:
    if _current is None:
        raise RuntimeError("this process is not a rack worker: manage.py rack_worker configures one")
    return _current


@dataclass(frozen=True)
class Discovered:
    """The region's index as fetched (`data`, `content_type` as served) and what it publishes."""

    publication: Publication
    data: bytes
    content_type: str | None


def discover(config: RackConfig) -> Discovered:
    """The region's index, signature checked (the import checks the same bytes again, and their Date)."""
    url = config.region_url.rstrip("/") + "/" + INDEX
    fetcher = Fetcher(FetchSettings(read_timeout=settings.PXEIMPORT_HTTP_TIMEOUT, retries=1))
    try:
        data = fetcher.get_bytes(url)
        content_type = fetcher.content_type(url)
        verified = verify_clearsigned(data, [config.keyring], name=url, content_type=content_type)
    finally:
        fetcher.close()
    return Discovered(parse(verified.content, name=url), data, content_type)


def converge(config: RackConfig) -> dict[str, Any]:
    """Sync the rack's TFTP root with the region; the report for the region (see racks.record_report)."""
    report: dict[str, Any] = {"rack": config.name, "queue": config.queue, "items": [], "bytes": 0}
    try:
        found = discover(config)
    except (FetchError, SignatureError, PublicationError, OSError) as exc:
        return report | {"error": f"the region's index: {exc}", "finished": timezone.now().isoformat()}
    publication = found.publication
    args = ["--layout", "region", "--archive", config.region_url, "--keyring", str(config.keyring)]
    args += ["--tftproot", str(config.tftproot), "--current-release", publication.current_release or "none"]
    for arch in publication.arches:
        args += ["--arch", arch]
    for release in publication.releases:
        args += ["--release", release]
    err = StringIO()
    code = 0
    try:
        # The import reads the index just fetched (one fetch per converge), checking it again in full.
        with index_given(config.region_url, found.data, found.content_type):
            call_command("import_pxe_files", *args, verbosity=0, stdout=StringIO(), stderr=err)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    if code == EXIT_LOCKED:
        busy = {"error": f"busy: {err.getvalue().strip()}", "busy": True, "finished": timezone.now().isoformat()}
        return report | busy
    run = ImportRun.objects.filter(tftproot=str(config.tftproot.absolute())).order_by("-started").first()
    report["items"] = [_item(config, publication, i.arch, i.kind, i.release, run) for i in publication.items]
    report["bytes"] = run.bytes_downloaded if run else 0
    failed = [i for i in report["items"] if i["error"]]
    error = "" if not code else (f"{len(failed)} item(s) failed" if failed else err.getvalue().strip()[-500:])
    return report | {"error": error, "index_read": True, "finished": timezone.now().isoformat()}


def _item(
    config: RackConfig, publication: Publication, arch: str, kind: str, release: str, run: ImportRun | None
) -> dict[str, Any]:
    """One item's line of the report, from the rack's own records of `run`."""
    published = publication.item(arch, kind, release)
    assert published is not None
    # The rack's records name a loader by the release it came from (the region's current release).
    state = ItemState.objects.filter(
        source_url=config.region_url,
        arch=arch,
        kind=ItemKind.LOADER if kind == LOADER else ItemKind.INSTALL,
        release=publication.current_release if kind == LOADER else release,
    ).first()
    line = {"arch": arch, "kind": kind, "release": release, "region_version": published.version}
    if state is None or run is None or state.last_run_id != run.pk:
        return line | {"error": "not imported by the last sync", "live_version": "", "bytes": 0}
    ok = state.outcome in (Outcome.INSTALLED, Outcome.UNCHANGED)
    pulled = InstalledFile.objects.filter(
        install__run=run, install__arch=arch, install__kind=state.kind, install__release=state.release, downloaded=True
    ).aggregate(total=Sum("size"))["total"]
    return line | {
        "error": "" if ok else (state.last_error or state.outcome),
        "live_version": state.live_version,
        "bytes": pulled or 0,
    }
