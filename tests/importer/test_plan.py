"""The plan: which items a run has, and the places in the TFTP root several sources claim."""

from __future__ import annotations

from pxeimport.importer import contested, plan
from pxeimport.items import ItemKind, Selection, Source

OLD = Source("old-mirror", "http://old.example.org/debian/dists/")
NEW = Source("new-mirror", "http://new.example.org/debian/dists/")


def test_a_place_two_sources_claim_is_fed_by_the_first_and_every_run_says_so():
    selections = [
        Selection(OLD, ("amd64",), ("bookworm",), "bookworm"),
        Selection(NEW, ("amd64", "arm64"), ("bookworm", "trixie"), "trixie"),
    ]

    items = plan(selections)

    fed = {(i.arch, i.release): i.source.name for i in items if i.kind == ItemKind.INSTALL}
    assert fed[("amd64", "bookworm")] == "old-mirror" and fed[("amd64", "trixie")] == "new-mirror"
    assert contested(selections) == [
        "WARNING: amd64's pre-boot loaders are claimed by boot sources 'old-mirror', 'new-mirror': 'old-mirror' "
        "feeds it, 'new-mirror' is left out; disable or deselect it on all but one",
        "WARNING: amd64/bookworm is claimed by boot sources 'old-mirror', 'new-mirror': 'old-mirror' feeds it, "
        "'new-mirror' is left out; disable or deselect it on all but one",
    ]


def test_sources_on_different_arches_claim_nothing_twice():
    selections = [Selection(OLD, ("amd64",), ("bookworm",), "bookworm"), Selection(NEW, ("arm64",), ("bookworm",), "b")]
    assert contested(selections) == []
