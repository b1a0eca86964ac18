"""Racks, the Django side of many TFTP servers: a rack's converge to its region's signed index (rack), each
rack's state as the region sees it (status), the broker names of one region's queues (queues), and Celery
over RabbitMQ between them (tasks: wake-ups and reports, never file bytes).

Imports: Django, the models, lib, items, fetching, trust, layouts, menus, tftproot, publication. Never runs (a
rack's converge runs the import_pxe_files command). Celery is imported only when one of its names is first
used (the web process and a region without a broker never load it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pxeimport.racks.queues import rack_queue, region_id, region_queue
from pxeimport.racks.rack import (
    Discovered,
    RackConfig,
    RackOptionError,
    configure,
    converge,
    current_rack,
    discover,
    rack_config,
)
from pxeimport.racks.status import (
    BEHIND,
    CLOCK_SKEW,
    FAILED,
    IN_SYNC,
    STATES,
    RackStatus,
    all_statuses,
    banner,
    lagging,
    publication,
    rack_status,
    racks_behind,
)

if TYPE_CHECKING:  # for mypy; at run time __getattr__ below imports them on first use
    from pxeimport.racks.tasks import (
        BrokerUnavailable,
        app,
        ask_racks,
        ask_racks_to_converge,
        ask_to_converge,
        record_report,
        send_report,
        serve_rack,
        serve_region,
    )

# The broker's side, from racks.tasks on first use (PEP 562).
_CELERY = frozenset(
    {
        "BrokerUnavailable",
        "app",
        "ask_racks",
        "ask_racks_to_converge",
        "ask_to_converge",
        "record_report",
        "send_report",
        "serve_rack",
        "serve_region",
    }
)

__all__ = [
    "BEHIND",
    "CLOCK_SKEW",
    "FAILED",
    "IN_SYNC",
    "STATES",
    "BrokerUnavailable",
    "Discovered",
    "RackConfig",
    "RackOptionError",
    "RackStatus",
    "all_statuses",
    "app",
    "ask_racks",
    "ask_racks_to_converge",
    "ask_to_converge",
    "banner",
    "configure",
    "converge",
    "current_rack",
    "discover",
    "lagging",
    "publication",
    "rack_config",
    "rack_queue",
    "rack_status",
    "racks_behind",
    "record_report",
    "region_id",
    "region_queue",
    "send_report",
    "serve_rack",
    "serve_region",
]


def __getattr__(name: str) -> Any:
    if name in _CELERY:
        from pxeimport.racks import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
