"""What the command prints, as pure functions of results: item lines by verbosity, the dry-run table, the summary."""

from __future__ import annotations

from pxeimport.importer import dry_run_table, item_lines, summary
from pxeimport.items import FileResult, Item, ItemKind, ItemResult, Outcome, Source

SOURCE = Source(name="debian", url="http://debian.example.org/debian/dists/")
INSTALL = Item(SOURCE, "amd64", "bookworm", ItemKind.INSTALL)
LOADER = Item(SOURCE, "amd64", "bookworm", ItemKind.LOADER)


def planned(item: Item, *sizes: int | None, previous: str | None = None) -> ItemResult:
    files = [FileResult(f"f{i}", "ab" * 32, f"http://x/f{i}", size, True) for i, size in enumerate(sizes)]
    return ItemResult(item, Outcome.PLANNED, version="v2", previous_version=previous, files=files)


def test_the_dry_run_table_aligns_its_columns_and_totals_the_bytes_to_fetch():
    lines = dry_run_table([planned(LOADER, 1_000_000), planned(INSTALL, 30_000_000, 5_500_000, previous="v1")])
    assert lines[0].split() == ["ITEM", "INSTALLED", "UPSTREAM", "TO", "FETCH", "ACTION"]
    assert lines[2].startswith("amd64/bookworm install")
    assert "v1" in lines[2] and "35.5 MB" in lines[2] and lines[2].endswith("install; fetch f0, f1")
    # ACTION starts in the same column on every row.
    assert (
        len({line.index(word) for line, word in zip(lines[:3], ["ACTION", "install;", "install;"], strict=True)}) == 1
    )
    assert lines[-1] == "Would fetch 36.5 MB."


def test_one_unknown_size_makes_the_item_and_the_total_unknown():
    lines = dry_run_table([planned(INSTALL, 10, None)])
    assert "unknown" in lines[1]
    assert lines[-1] == "Would fetch an unknown amount."


def test_an_item_with_nothing_to_fetch_says_it_reuses_installed_files():
    lines = dry_run_table([planned(INSTALL)])
    assert lines[1].endswith("install; fetch nothing (reuse installed files)")
    assert lines[-1] == "Would fetch 0.0 MB."


def test_unchanged_and_failed_items_show_their_outcome_in_the_table_and_the_error_only_on_stderr():
    lines = dry_run_table(
        [
            ItemResult(LOADER, Outcome.UNCHANGED, version="v1", previous_version="v1"),
            ItemResult(INSTALL, Outcome.FAILED, message="HTTP 404"),
        ]
    )
    assert lines[1].endswith("unchanged") and lines[2].endswith("failed (the error is below, on stderr)")
    assert "HTTP 404" not in "\n".join(lines)


def test_a_failure_is_always_said_and_on_stderr_even_at_verbosity_zero():
    [line] = item_lines(ItemResult(INSTALL, Outcome.FAILED, message="x: HTTP 404; kept what was installed"), 0)
    assert (line.text, line.is_error) == ("amd64/bookworm install failed: x: HTTP 404; kept what was installed", True)


def test_changes_show_at_verbosity_one_unchanged_items_at_two_files_at_three():
    installed = ItemResult(INSTALL, Outcome.INSTALLED, version="v2", previous_version="v1")
    unchanged = ItemResult(INSTALL, Outcome.UNCHANGED, version="v1", previous_version="v1")
    unchanged.files = [FileResult("linux", "ab" * 32, "http://x/linux", 7, False)]
    assert item_lines(installed, 0) == []
    assert [x.text for x in item_lines(installed, 1)] == ["amd64/bookworm install: installed v2 (was v1)"]
    assert item_lines(unchanged, 1) == []
    assert [x.text for x in item_lines(unchanged, 2)] == ["amd64/bookworm install: unchanged (v1)"]
    assert item_lines(unchanged, 3)[1].text == f"    linux {'ab' * 32} 7 bytes, kept, from http://x/linux"


def test_the_summary_counts_each_outcome_and_the_megabytes():
    results = [
        ItemResult(LOADER, Outcome.UNCHANGED),
        ItemResult(INSTALL, Outcome.INSTALLED),
        ItemResult(INSTALL, Outcome.FAILED),
    ]
    assert summary(results, 12_345_678, 3.21, dry=False) == (
        "1 installed, 1 unchanged, 0 skipped, 1 failed; 12.3 MB downloaded in 3.2 s."
    )
    assert summary([planned(INSTALL)], 0, 0.0, dry=True).startswith("Dry run: 1 to install, 0 unchanged")
