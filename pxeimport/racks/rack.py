"""A rack's converge: read the region's index, mirror it with import_pxe_files --layout region, say what happened.

The selection is the region's index itself: exactly the (arch, release) pairs it lists, and what it
no longer lists is retired (after the rack's own grace period), so a rack needs no boot sources of its
own and never keeps what its region withdrew. The import takes the same bytes (one fetch per
converge) and checks them again, fully (signature, Date against replays, every file's SHA-256), swaps
atomically and records the run in the rack's own database. The report (a dict, JSON-safe) goes to the
region's queue; the rack never holds database credentials for the region. It says how far this
rack's clock is from the region's web server's (the index's HTTP Date) and what the rack's menus
offer beyond the index (held by its own retirement rules, or put there by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from pxeimport.fetching import Fetcher, FetchError, FetchSettings
from pxeimport.items import ItemKind, Outcome
from pxeimport.layouts import index_given
from pxeimport.lib import EXIT_LOCKED, InvalidName, check_name
from pxeimport.menus import BootMenus
from pxeimport.models import ImportRun, InstalledFile, ItemState
from pxeimport.publication import INDEX, LOADER, Publication, PublicationError, parse
from pxeimport.racks.queues import follow, rack_queue
from pxeimport.tftproot import TftpRoot
from pxeimport.trust import SignatureError, keyring_problem, verify_clearsigned


@dataclass(frozen=True)
class RackConfig:
    name: str
    tftproot: Path
    region_url: str
    keyring: Path

    @property
    def queue(self) -> str:
        """Its queue on the broker, named after the region's key id (pxeimport.racks.queues)."""
        return rack_queue(self.name)


class RackOptionError(ValueError):
    """A rack's name, region URL or keyring that cannot work (the commands' exit 2)."""


def rack_config(name: str, tftproot: Path, region_url: str, keyring: Path) -> RackConfig:
    """The rack's config from its command's options, checked: RackOptionError saying which is wrong and why."""
    try:
        check_name("rack", name)
    except InvalidName as exc:
        raise RackOptionError(str(exc)) from exc
    if urlsplit(region_url).scheme not in ("http", "https"):
        raise RackOptionError(f"--region {region_url!r}: give the region's http(s) PXEIMPORT_PUBLISH_URL")
    problem = keyring_problem(keyring)
    if problem is not None:
        raise RackOptionError(f"--keyring {keyring}: {problem}")
    return RackConfig(name, tftproot.absolute(), region_url, keyring)


_current: RackConfig | None = None


def configure(config: RackConfig) -> None:
    """Set this process's rack (rack_worker does, before the worker starts)."""
    global _current
    _current = config
    follow(config.keyring)


def current_rack() -> RackConfig:
    if _current is None:
        raise RuntimeError("this process is not a rack worker: manage.py rack_worker configures one")
    return _current


@dataclass(frozen=True)
class Discovered:
    """The region's index as fetched (`data`, `content_type` as served) and what it publishes;
    `clock_offset`: seconds this rack's clock was ahead of the region's web server (None: no Date header)."""

    publication: Publication
    data: bytes
    content_type: str | None
    clock_offset: float | None = None


def discover(config: RackConfig) -> Discovered:
    """The region's index, signature checked (the import checks the same bytes again, and their Date)."""
    url = config.region_url.rstrip("/") + "/" + INDEX
    fetcher = Fetcher(FetchSettings(read_timeout=settings.PXEIMPORT_HTTP_TIMEOUT, retries=1))
    try:
        data = fetcher.get_bytes(url)
        content_type, offset = fetcher.content_type(url), fetcher.clock_offset(url)
        verified = verify_clearsigned(data, [config.keyring], name=url, content_type=content_type)
    finally:
        fetcher.close()
    return Discovered(parse(verified.content, name=url), data, content_type, offset)


def converge(config: RackConfig) -> dict[str, Any]:
    """Sync the rack's TFTP root with the region; the report for the region (see racks.record_report)."""
    report: dict[str, Any] = {"rack": config.name, "stage": "finished", "items": [], "bytes": 0}
    try:
        found = discover(config)
    except (FetchError, SignatureError, PublicationError, OSError) as exc:
        return report | {"error": f"the region's index: {exc}"}
    publication = found.publication
    report["clock_offset"] = found.clock_offset
    # Neither --arch nor --release: the import mirrors the index, exactly the pairs it lists, and retires the rest.
    args = ["--layout", "region", "--archive", config.region_url, "--keyring", str(config.keyring)]
    args += ["--tftproot", str(config.tftproot)]
    err = StringIO()
    code = 0
    before = ImportRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        # The import reads the index just fetched (one fetch per converge), checking it again in full.
        with index_given(config.region_url, found.data, found.content_type):
            call_command("import_pxe_files", *args, verbosity=0, stdout=StringIO(), stderr=err)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    said_by_import = err.getvalue().strip()
    if code == EXIT_LOCKED:
        return report | {
            "error": f"busy: {said_by_import.removesuffix('; nothing done, try again later')}",
            "busy": True,
        }
    # This converge's run, by its row's id (a rack's clock may have been set back since an earlier run).
    run = ImportRun.objects.filter(pk__gt=before, tftproot=str(config.tftproot.absolute())).order_by("-pk").first()
    if run is None:  # the import stopped before it started a run (a TFTP root it cannot use): say why
        return report | {"error": (said_by_import or f"the import exited {code}")[-500:]}
    report["items"] = [_item(config, publication, i.arch, i.kind, i.release, run) for i in publication.items]
    report["bytes"] = run.bytes_downloaded if run else 0
    report["beyond"] = beyond(config.tftproot, publication)
    failed = [i for i in report["items"] if i["error"]]
    said = "; ".join(f"{i['arch']}/{i['release'] or 'loader'}: {i['error']}" for i in failed)
    error = "" if not code else (f"{len(failed)} item(s) failed: {said}" if failed else said_by_import[-500:])
    return report | {"error": error[:2000], "index_read": True}


def beyond(tftproot: Path, publication: Publication) -> list[str]:
    """ "<arch>/<release>" of each entry the rack's own menus offer that `publication` does not list."""
    listed = {(i.arch, i.release) for i in publication.items}
    root, found = TftpRoot(tftproot), []
    for arch in root.arches():
        offered = BootMenus(root).offered(arch) or set()
        found += sorted(f"{arch}/{r}" for r in {p.split("/")[0] for p in offered} if (arch, r) not in listed)
    return found


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
    line["kernel_opts"] = published.kernel_opts  # a change of options alone is a change the rack must take
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
