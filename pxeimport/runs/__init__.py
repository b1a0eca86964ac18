"""The database and settings side of an import run, for the commands and the admin: the saved selection read
(selection), the command's options and the settings wired into one run (context), its rows written
(records: ImportRun, Install, InstalledFile, ItemState), the region's publication after a run (publishing),
what the dashboard shows (dashboard), and an import started from the web process (background).

Imports: Django, the models, every plain package, racks (the rack lag on the dashboard; the wake-up after a run,
whose Celery loads only where a broker is set).
`records`, `publishing` and `dashboard` are exported whole: their functions read best with the module's name.
"""

from __future__ import annotations

from pxeimport.runs import dashboard, publishing, records
from pxeimport.runs.background import Started, start_import
from pxeimport.runs.context import ConfigError, IndexUnavailable, RunContext, RunOptions, build
from pxeimport.runs.selection import DEFAULT_ARCHES, NothingSelected, Overrides, claimed_elsewhere, resolve

__all__ = [
    "DEFAULT_ARCHES",
    "ConfigError",
    "IndexUnavailable",
    "NothingSelected",
    "Overrides",
    "RunContext",
    "RunOptions",
    "Started",
    "build",
    "claimed_elsewhere",
    "dashboard",
    "publishing",
    "records",
    "resolve",
    "start_import",
]
