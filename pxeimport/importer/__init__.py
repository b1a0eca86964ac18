"""One import run: the plan (selections into items), asking each item's layout what it wants, one verified
download per distinct file, taking members out of containers, installing each set atomically, writing the
menus, retiring what is no longer selected, the housekeeping a dry run only says, and the text its operator
reads. It names no layout: it asks the registry.

Imports: every plain package. Django: never (the database and settings side of a run is runs').
"""

from __future__ import annotations

from pxeimport.importer.plan import contested, plan
from pxeimport.importer.progress import TerminalProgress
from pxeimport.importer.run import FRESHNESS_FILE, INDEX_ERRORS, Importer
from pxeimport.importer.served import Served, loaderless, served
from pxeimport.importer.stopping import Stopped, stop_on_signals
from pxeimport.importer.text import (
    Line,
    change_text,
    dry_run_table,
    failure_summary,
    item_lines,
    menu_change,
    menu_lines,
    summary,
)
from pxeimport.importer.usage import usage_problems

__all__ = [
    "FRESHNESS_FILE",
    "INDEX_ERRORS",
    "Importer",
    "Line",
    "Served",
    "Stopped",
    "TerminalProgress",
    "change_text",
    "contested",
    "dry_run_table",
    "failure_summary",
    "item_lines",
    "loaderless",
    "menu_change",
    "menu_lines",
    "plan",
    "served",
    "stop_on_signals",
    "summary",
    "usage_problems",
]
