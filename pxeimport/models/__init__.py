"""The database: boot sources and their selections (sources), the history of runs, installs and installed
files with what each item serves (history), and the racks a region feeds (racks). Django's app loads the
models from here.

Imports: Django, items, layouts (the layout choices), validators.
"""

from __future__ import annotations

from pxeimport.models.history import (
    ITEM_KINDS,
    STORED_OUTCOMES,
    ImportRun,
    Install,
    InstalledFile,
    ItemState,
    RunStatus,
    Trigger,
)
from pxeimport.models.racks import Rack, RackItemState
from pxeimport.models.sources import BootSource, Distribution, SelectedArch, SelectedRelease

# Migrations name the field validators here, their old home.
from pxeimport.validators import (
    name_validator,
    validate_arch_urls,
    validate_archive_url,
    validate_dists_url,
    validate_kernel_opts,
    validate_proxy_url,
)

__all__ = [
    "ITEM_KINDS",
    "STORED_OUTCOMES",
    "BootSource",
    "Distribution",
    "ImportRun",
    "Install",
    "InstalledFile",
    "ItemState",
    "Rack",
    "RackItemState",
    "RunStatus",
    "SelectedArch",
    "SelectedRelease",
    "Trigger",
    "name_validator",
    "validate_arch_urls",
    "validate_archive_url",
    "validate_dists_url",
    "validate_kernel_opts",
    "validate_proxy_url",
]
