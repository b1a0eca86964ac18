"""The TFTP root: the ancestor's stable paths, immutable version dirs and the atomic swap of the pointer to one,
the lock (one import at a time), the probe (can this root work, can tftpd read it), the preflight (what would
stop a real run, for a dry run), the integrity manifest of each version dir, and the HTTP root beside it for
what nodes fetch over HTTP.

Imports: lib. Django: never. The extractors are extraction's; the menus written into the root are menus'.
"""

from __future__ import annotations

from pxeimport.tftproot.httproot import HttpRoot, HttpRootError, check_relative, tftp_texts
from pxeimport.tftproot.integrity import MANIFEST, Damage, InstalledFile, check, read_manifest, record
from pxeimport.tftproot.lock import LockHeld, hold_lock
from pxeimport.tftproot.preflight import blockers, hazards
from pxeimport.tftproot.probe import Capabilities, RootUnusable, filesystem_type, open_up, probe
from pxeimport.tftproot.root import (
    DEFAULT_GRACE_SECONDS,
    MAAS_DIR,
    RESERVED,
    RETIRED_MARK,
    STAGING_DIR,
    Installed,
    TftpRoot,
    UnsafePath,
    check_release,
)
from pxeimport.tftproot.slots import VERSION_LENGTH, Slot, version_id

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "MAAS_DIR",
    "MANIFEST",
    "RESERVED",
    "RETIRED_MARK",
    "STAGING_DIR",
    "VERSION_LENGTH",
    "Capabilities",
    "Damage",
    "HttpRoot",
    "HttpRootError",
    "Installed",
    "InstalledFile",
    "LockHeld",
    "RootUnusable",
    "Slot",
    "TftpRoot",
    "UnsafePath",
    "blockers",
    "check",
    "check_relative",
    "check_release",
    "filesystem_type",
    "hazards",
    "hold_lock",
    "open_up",
    "probe",
    "read_manifest",
    "record",
    "tftp_texts",
    "version_id",
]
