"""The region's publication: its signed index of what its TFTP root serves (index.py: the format, parsed
strictly), the publisher that links the served version dirs under the publish root and signs the index, and
the region's OpenPGP key.

Imports: lib, menus, tftproot. Django: never (the settings and the wake-up of racks are runs.publishing's).
"""

from __future__ import annotations

from pxeimport.publication.index import (
    FILES_DIR,
    HISTORY,
    HTTP_DIR,
    INDEX,
    INSTALL,
    LOADER,
    Publication,
    PublicationError,
    PublishedFile,
    PublishedHttpFile,
    PublishedItem,
    parse,
    read_published,
)
from pxeimport.publication.publisher import Published, Publisher
from pxeimport.publication.regionkey import RegionKey, RegionKeyError, keyring_fingerprint, stop_gpg_agent

__all__ = [
    "FILES_DIR",
    "HISTORY",
    "HTTP_DIR",
    "INDEX",
    "INSTALL",
    "LOADER",
    "Publication",
    "PublicationError",
    "Published",
    "PublishedFile",
    "PublishedHttpFile",
    "PublishedItem",
    "Publisher",
    "RegionKey",
    "RegionKeyError",
    "keyring_fingerprint",
    "parse",
    "read_published",
    "stop_gpg_agent",
]
