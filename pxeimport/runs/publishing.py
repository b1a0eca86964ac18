"""The region's side of import_pxe_files: settings -> Publisher, called once a run has installed.

Nothing happens unless PXEIMPORT_PUBLISH_ROOT is set (single-machine mode stays as it was). Then
after each run the live sets are published (pxeimport.publication.publisher), and when the index changed the
racks are told to converge, once the database transaction (if any) has committed; when it did not, the racks
whose reports lack some of it are (a wake-up lost with a run killed after it published).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction

from pxeimport.items import Item, ItemKind
from pxeimport.menus import BootMenus, MenuSettings
from pxeimport.publication import Published, Publisher, RegionKey
from pxeimport.tftproot import HttpRoot, Slot, TftpRoot

log = logging.getLogger(__name__)


def enabled() -> bool:
    return settings.PXEIMPORT_PUBLISH_ROOT is not None


def region_key() -> RegionKey:
    return RegionKey(settings.PXEIMPORT_REGION_GNUPGHOME)


def publisher(root: TftpRoot) -> Publisher | None:
    """The publisher for `root`, or None when this machine does not publish."""
    if settings.PXEIMPORT_PUBLISH_ROOT is None:
        return None
    return Publisher(
        root,
        settings.PXEIMPORT_PUBLISH_ROOT,
        region_key().clearsign,
        keep_seconds=settings.PXEIMPORT_PUBLISH_KEEP_SECONDS,
        http_root=http_root(),
    )


def http_root() -> HttpRoot | None:
    """The region's HTTP root (PXEIMPORT_HTTP_ROOT/URL): the files its menus name there are published too."""
    if not (settings.PXEIMPORT_HTTP_ROOT and settings.PXEIMPORT_HTTP_URL):
        return None
    path = Path(settings.PXEIMPORT_HTTP_ROOT).absolute()
    return HttpRoot(path, settings.PXEIMPORT_HTTP_URL, settings.PXEIMPORT_GRACE_SECONDS)


def protector(root: TftpRoot) -> Callable[[Slot], frozenset[str]] | None:
    """The importer's clean-up hook: version dirs a recent index names stay (None: not publishing)."""
    found = publisher(root)
    return found.protected if found is not None else None


def after_import(root: TftpRoot, items: Sequence[Item], menus: MenuSettings) -> Published | None:
    """Publish what `root` serves after a run of `items`; tell the racks when it changed.

    Returns None when not publishing. OSError or RegionKeyError propagate (the old index stays).
    """
    found = publisher(root)
    if found is None:
        return None
    loaders = [i.release for i in items if i.kind == ItemKind.LOADER]
    # The options every served release's entries have in the region's menus, this run's or not (a narrowed
    # run plans only some): what the menus last chose for each, kept beside its version dirs.
    chosen = BootMenus(root, menus)
    arches = root.arches()
    opts = {(a, r): chosen.saved_kernel_opts(a, r) for a in arches for r in root.installed_releases(a)}
    # A run planning no loader (narrowed, or its source feeds none) keeps the release the index names.
    current = loaders[0] if loaders else str((found.current() or {}).get("current_release") or "")
    published = found.publish(current, opts)
    if settings.CELERY_BROKER_URL:
        transaction.on_commit(partial(_wake_racks, published.changed))
    return published


def _wake_racks(changed: bool) -> None:
    """Ask the racks to converge to the index: all of them when this run `changed` it, else those whose reports
    lack some of it (the run that published it may have been killed before its wake-up went). A broker that is
    not there is a warning, not a failed import (the index is published: racks converge at the next safety
    net, or `manage.py wake_racks`)."""
    from pxeimport.racks import BrokerUnavailable, ask_racks, ask_racks_to_converge, racks_behind  # Celery: lazily

    try:
        if changed:
            ask_racks_to_converge("region import")
        elif behind := racks_behind():
            ask_racks(behind, "region import: behind the index")
    except (DatabaseError, OSError) as exc:  # after the run committed: never its failure; the safety net asks
        log.warning("racks not asked to converge: %s; they converge at the next safety net", exc)
    except BrokerUnavailable as exc:
        log.warning("racks not woken: %s; they converge at the next safety net, or run manage.py wake_racks", exc)
