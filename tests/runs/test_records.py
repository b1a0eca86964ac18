"""Item status: every checked result of a real run updates its item's ItemState row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from pxeimport.items import FileResult, Item, ItemKind, ItemResult, Outcome, Source
from pxeimport.models import BootSource, ImportRun, Install, ItemState
from pxeimport.runs import records
from tools.archive import ArchiveTree, netboot_files

pytestmark = pytest.mark.django_db

ARCHIVE = "http://mirror.example/debian/dists/"
COMMAND_LINE = Source(name="command-line", url=ARCHIVE)


@pytest.fixture
def run() -> ImportRun:
    return records.start_run("/srv/tftp")


def result(
    outcome: Outcome,
    version: str | None = None,
    previous: str | None = None,
    *,
    message: str = "",
    source: Source = COMMAND_LINE,
    kind: ItemKind = ItemKind.INSTALL,
) -> ItemResult:
    files = [FileResult("linux", "ab" * 32, ARCHIVE + "linux", 10, True)] if outcome == Outcome.INSTALLED else []
    item = Item(source, "amd64", "bookworm", kind)
    path = Path("/srv/tftp/maas/amd64/base/bookworm/install-x") if outcome == Outcome.INSTALLED else None
    return ItemResult(item, outcome, message, version, previous, files, path=path)


def state() -> ItemState:
    return ItemState.objects.get()


def test_an_install_records_the_live_version_and_when_it_went_live(run):
    install = records.record_result(run, result(Outcome.INSTALLED, "v1"))

    assert install is not None and install.files.count() == 1
    s = state()
    assert (s.live_version, s.upstream_version, s.outcome, s.last_error) == ("v1", "v1", Outcome.INSTALLED, "")
    assert s.installed == install.installed
    assert (s.source_url, s.kind, s.last_run) == (ARCHIVE, ItemKind.INSTALL, run)
    assert not s.upstream_newer


def test_an_unchanged_check_moves_the_check_time_but_not_the_install_time(run):
    records.record_result(run, result(Outcome.INSTALLED, "v1"))
    first = state()

    records.record_result(records.start_run("/srv/tftp"), result(Outcome.UNCHANGED, "v1", "v1"))

    s = state()
    assert s.installed == first.installed
    assert s.checked > first.checked
    assert (s.outcome, s.live_version) == (Outcome.UNCHANGED, "v1")


def test_a_failed_install_keeps_the_live_version_and_shows_upstreams_newer_one(run):
    records.record_result(run, result(Outcome.INSTALLED, "v1"))

    records.record_result(run, result(Outcome.FAILED, "v2", "v1", message="initrd.gz: SHA-256 mismatch"))

    s = state()
    assert (s.live_version, s.upstream_version) == ("v1", "v2")
    assert s.upstream_newer
    assert s.last_error == "initrd.gz: SHA-256 mismatch"
    assert list(ItemState.objects.filter(ItemState.BEHIND)) == [s]
    assert list(ItemState.objects.filter(ItemState.FAILING)) == [s]


def test_an_unreadable_index_keeps_the_live_version_and_leaves_upstream_unknown(run):
    records.record_result(run, result(Outcome.INSTALLED, "v1"))

    records.record_result(run, result(Outcome.FAILED, message="SHA256SUMS: HTTP 404"))

    s = state()
    assert (s.live_version, s.upstream_version, s.last_error) == ("v1", "", "SHA256SUMS: HTTP 404")
    assert not s.upstream_newer
    assert not ItemState.objects.filter(ItemState.BEHIND).exists()


def test_failing_since_is_the_first_of_consecutive_failures_and_clears_on_success(run):
    records.record_result(run, result(Outcome.FAILED, message="HTTP 503"))
    first = state().failing_since
    records.record_result(run, result(Outcome.FAILED, message="HTTP 503 again"))
    assert first is not None and state().failing_since == first
    assert state().last_error == "HTTP 503 again"

    records.record_result(run, result(Outcome.INSTALLED, "v1"))

    assert (state().failing_since, state().last_error) == (None, "")


def test_an_item_first_seen_unchanged_takes_its_install_time_from_the_history(run):
    went_live = timezone.now() - timedelta(days=3)
    Install.objects.create(
        run=run, source_url=ARCHIVE, arch="amd64", release="bookworm", kind="install", version="v1", installed=went_live
    )

    records.record_result(run, result(Outcome.UNCHANGED, "v1", "v1"))

    assert state().installed == went_live


def test_a_skipped_loader_has_no_upstream_version_and_no_error(run):
    records.record_result(run, result(Outcome.SKIPPED, message="no pre-boot loader", kind=ItemKind.LOADER))

    s = state()
    assert (s.kind, s.outcome, s.upstream_version, s.last_error) == (ItemKind.LOADER, Outcome.SKIPPED, "", "")


def test_a_dry_runs_planned_result_records_nothing(run):
    assert records.record_result(run, result(Outcome.PLANNED, "v1")) is None
    assert not ItemState.objects.exists()


def test_a_saved_source_and_an_archive_url_each_get_one_row_per_item(run):
    saved = BootSource.objects.create(name="mirror", url=ARCHIVE)
    from_saved = Source(name="mirror", url=ARCHIVE, key=saved.pk)
    for _ in range(2):
        records.record_result(run, result(Outcome.UNCHANGED, "v1", "v1", source=from_saved))
        records.record_result(run, result(Outcome.UNCHANGED, "v1", "v1"))

    assert ItemState.objects.count() == 2
    assert ItemState.objects.filter(source=saved).count() == 1


def test_a_saved_sources_row_follows_it_when_its_url_changes(run):
    saved = BootSource.objects.create(name="mirror", url=ARCHIVE)
    records.record_result(run, result(Outcome.UNCHANGED, "v1", "v1", source=Source("mirror", ARCHIVE, key=saved.pk)))
    moved = "http://new-mirror.example/debian/dists/"

    records.record_result(run, result(Outcome.UNCHANGED, "v1", "v1", source=Source("mirror", moved, key=saved.pk)))

    assert state().source_url == moved


@pytest.mark.parametrize("with_source", [True, False])
def test_the_database_refuses_a_second_row_for_the_same_item(run, with_source):
    saved = BootSource.objects.create(name="mirror", url=ARCHIVE) if with_source else None
    fields = dict(source=saved, source_url=ARCHIVE, arch="amd64", release="bookworm", kind="install")
    ItemState.objects.create(**fields, checked=timezone.now(), outcome=Outcome.UNCHANGED)
    with pytest.raises(IntegrityError), transaction.atomic():
        ItemState.objects.create(**fields, checked=timezone.now(), outcome=Outcome.UNCHANGED)


def test_a_real_import_leaves_one_state_per_item_with_its_error(archive: ArchiveTree, import_pxe):
    archive.publish("bookworm", "amd64", netboot_files("v1"))

    releases = ("--release", "bookworm", "--release", "forky", "--current-release", "bookworm")

    result = import_pxe("--arch", "amd64", *releases)

    assert result.code == 1
    states = {(s.kind, s.release): s for s in ItemState.objects.all()}
    assert set(states) == {("loader", "bookworm"), ("install", "bookworm"), ("install", "forky")}
    assert states["install", "bookworm"].live_version == Install.objects.get(kind="install").version
    assert states["install", "bookworm"].last_error == ""
    assert "HTTP 404" in states["install", "forky"].last_error
    assert states["install", "forky"].live_version == ""
