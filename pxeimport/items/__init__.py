"""The words of one import, as data: a boot source, a selection, an item (one arch's loaders, or one arch and
release's installer), what became of it. Every other package names things in these words, so none has to
import another to say "item".

Imports: lib. Django: never.
"""

from __future__ import annotations

from pxeimport.items.words import (
    DEFAULT_LAYOUT,
    ArchUrls,
    FileResult,
    Item,
    ItemKind,
    ItemResult,
    Outcome,
    Selection,
    Source,
    parse_arch_urls,
)

__all__ = [
    "DEFAULT_LAYOUT",
    "ArchUrls",
    "FileResult",
    "Item",
    "ItemKind",
    "ItemResult",
    "Outcome",
    "Selection",
    "Source",
    "parse_arch_urls",
]
