"""The operator's dashboard: the status page, the warning banners, "Import now", history pages at scale."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from pxeimport.items import Outcome
from pxeimport.models import (
    BootSource,
    ImportRun,
    Install,
    InstalledFile,
    ItemState,
    RunStatus,
    Trigger,
)
from tests.support.background_import import loopback_source, wait_for_finished_run
from tests.support.settings import import_settings
from tools.archive import netboot_files

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def root(settings):
    """The dashboard speaks for the configured root: these runs are its runs. An HTTP root is set, as the
    install sets it: the fresh database's ubuntu-iso source raises no banner for lacking one."""
    settings.PXEIMPORT_TFTPROOT = Path("/srv/tftp")
    settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = "/srv/pxe-http", "http://boot.example.org/pxe"


STATUS = "admin:status"
IMPORT_NOW = "admin:pxeimport_importrun_import_now"


def make_run(status: str = RunStatus.SUCCEEDED, hours_ago: float = 1, **fields: object) -> ImportRun:
    started = timezone.now() - timedelta(hours=hours_ago)
    finished = None if status == RunStatus.RUNNING else started + timedelta(minutes=2)
    return ImportRun.objects.create(started=started, finished=finished, status=status, tftproot="/srv/tftp", **fields)


def make_state(release: str = "bookworm", **fields: object) -> ItemState:
    source, _ = BootSource.objects.get_or_create(name="mirror", defaults={"url": "http://mirror.example/debian/dists/"})
    defaults: dict[str, object] = dict(
        source=source,
        source_url="http://mirror.example/debian/dists/",
        arch="amd64",
        release=release,
        kind="install",
        live_version="1111111111111111",
        upstream_version="1111111111111111",
        installed=timezone.now() - timedelta(days=2),
        checked=timezone.now(),
        outcome=Outcome.UNCHANGED,
    )
    return ItemState.objects.create(**{**defaults, **fields})


def page(client, name: str = STATUS) -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_status_page_shows_each_items_live_version_check_and_error(admin_client):
    make_run()
    make_state("bookworm")
    make_state(
        "trixie",
        live_version="2222222222222222",
        upstream_version="3333333333333333",
        outcome=Outcome.FAILED,
        last_error="initrd.gz: SHA-256 mismatch; kept what was installed",
        failing_since=timezone.now(),
    )

    html = page(admin_client)

    assert "Items: 2 checked, 1 failing, 1 with a newer version upstream" in html
    assert "1111111111111111" in html and "2222222222222222" in html
    assert "newer: 3333333333333333" in html
    assert "initrd.gz: SHA-256 mismatch; kept what was installed" in html
    assert html.count('class="item failing"') == 1


def test_the_status_page_marks_items_the_last_run_did_not_check(admin_client):
    make_run(hours_ago=1)
    make_state("buster", checked=timezone.now() - timedelta(days=3))
    make_state("bookworm")

    html = page(admin_client)

    assert html.count("not checked by the last run") == 1


def test_the_status_page_lists_the_latest_runs_with_their_outcome(admin_client):
    make_run(RunStatus.FAILED, hours_ago=2, items_failed=1)
    make_run(RunStatus.SUCCEEDED, hours_ago=1, trigger=Trigger.ADMIN)

    html = page(admin_client)

    assert html.index("Succeeded") < html.index("Some items failed")
    assert "Admin" in html


def test_the_index_links_to_the_status_page(admin_client):
    assert reverse(STATUS) in page(admin_client, "admin:index")


def test_a_failed_last_run_raises_a_banner_on_the_index_and_the_status_page(admin_client):
    make_run(RunStatus.SUCCEEDED, hours_ago=3)
    make_run(RunStatus.FAILED, hours_ago=1, items_failed=2, error_summary="amd64/trixie install failed: HTTP 404\nmore")
    make_run(RunStatus.LOCKED, hours_ago=0.5)

    for name in ("admin:index", STATUS):
        html = page(admin_client, name)
        assert 'id="import-banners"' in html
        assert "did not succeed: Some items failed (2 items failed): amd64/trixie install failed: HTTP 404" in html


def test_no_banner_while_the_last_run_succeeded_recently(admin_client):
    make_run(RunStatus.SUCCEEDED, hours_ago=2)
    make_run(RunStatus.RUNNING, hours_ago=0.1)

    assert 'id="import-banners"' not in page(admin_client, "admin:index")


def test_no_finished_run_for_longer_than_the_limit_raises_a_banner(admin_client, settings):
    settings.PXEIMPORT_STALE_HOURS = 26
    make_run(RunStatus.SUCCEEDED, hours_ago=30)

    html = page(admin_client, "admin:index")

    assert "No import has finished for 30 hours" in html
    assert "PXEIMPORT_STALE_HOURS=26" in html


def test_the_staleness_limit_is_a_setting(admin_client, settings):
    settings.PXEIMPORT_STALE_HOURS = 48
    make_run(RunStatus.SUCCEEDED, hours_ago=30)

    assert 'id="import-banners"' not in page(admin_client, "admin:index")


def test_a_database_with_no_finished_run_says_so(admin_client):
    make_run(RunStatus.LOCKED)
    assert "No import has finished yet" in page(admin_client, STATUS)


def test_the_status_page_is_refused_to_anonymous_visitors_and_to_staff_without_permission(client):
    assert client.get(reverse(STATUS)).status_code == 302
    staff = User.objects.create_user("operator", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse(STATUS)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_importrun"))
    assert client.get(reverse(STATUS)).status_code == 200


def test_import_now_needs_its_own_permission_and_a_post(client, admin_client):
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_importrun"))
    client.force_login(staff)
    assert client.post(reverse(IMPORT_NOW)).status_code == 403
    assert 'id="import-now-button"' not in page(client)

    assert admin_client.get(reverse(IMPORT_NOW)).status_code == 405
    assert 'id="import-now-button"' in page(admin_client)
    assert 'id="import-now-button"' in page(admin_client, "admin:pxeimport_importrun_changelist")


def test_the_history_pages_stay_a_few_queries_with_100_000_installed_files(admin_client, django_assert_max_num_queries):
    now = timezone.now()
    runs = ImportRun.objects.bulk_create(
        ImportRun(started=now - timedelta(days=i), finished=now, status=RunStatus.SUCCEEDED, tftproot="/t")
        for i in range(100)
    )
    installs = Install.objects.bulk_create(
        Install(
            run=runs[i % 100],
            source_url="http://mirror.example/dists/",
            arch=("amd64", "i386", "arm64")[i % 3],
            release=("bookworm", "trixie")[i % 2],
            kind="install",
            version=f"{i:016x}",
            installed=now - timedelta(minutes=i),
        )
        for i in range(10_000)
    )
    InstalledFile.objects.bulk_create(
        (
            InstalledFile(install=i, name=f"file{n}", sha256="ab" * 32, size=1, url="http://m/x", downloaded=True)
            for i in installs
            for n in range(10)
        ),
        batch_size=10_000,
    )
    assert InstalledFile.objects.count() == 100_000
    pages = [
        ("admin:pxeimport_installedfile_changelist", {}),
        ("admin:pxeimport_installedfile_changelist", {"install__arch": "amd64", "name": "file3"}),
        ("admin:pxeimport_install_changelist", {"release": "trixie"}),
        ("admin:pxeimport_importrun_changelist", {"p": "1"}),
        (STATUS, {}),
        ("admin:index", {}),
    ]
    for name, params in pages:
        started = time.monotonic()
        # Session, user, counts, one page of rows, the filters' choices: never one query per row.
        with django_assert_max_num_queries(8):
            response = admin_client.get(reverse(name), params)
        assert response.status_code == 200, name
        assert time.monotonic() - started < 2, f"{name} took {time.monotonic() - started:.1f} s"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_import_now_starts_a_real_import_whose_run_then_appears(
    admin_client, archive, archive_server, signer, tftp_root, settings, monkeypatch, tmp_path
):
    source = loopback_source(archive_server, signer, tftp_root, tmp_path / "var", settings, monkeypatch)
    source.arches.create(name="amd64")
    source.releases.create(name="bookworm")
    archive.publish("bookworm", "amd64", netboot_files("v1"))

    response = admin_client.post(reverse(IMPORT_NOW), {"next": reverse(STATUS)}, follow=True)

    assert "Import started in the background" in response.content.decode()
    run = wait_for_finished_run()
    assert (run.status, run.trigger, run.items_installed) == (RunStatus.SUCCEEDED, Trigger.ADMIN, 2)
    assert (tftp_root / "maas" / "amd64" / "base" / "bookworm" / "install" / "linux").exists()
    html = page(admin_client)
    assert "Succeeded" in html and ItemState.objects.get(kind="install").live_version in html
    assert "import started by the admin" in (tmp_path / "var" / "import-now.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["0", "-3", "soon"])
def test_a_staleness_limit_that_is_not_a_positive_number_stops_start_up(bad):
    result = import_settings(PXEIMPORT_STALE_HOURS=bad)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "PXEIMPORT_STALE_HOURS" in result.stderr


def test_the_counts_follow_the_last_run_of_the_saved_selection_not_stale_rows(admin_client):
    """Found by a newcomer: "0 failed" in the last run, "5 failing" on the page, all rows it no longer checks."""
    make_run(hours_ago=1)
    make_state("bookworm")
    make_state("buster", checked=timezone.now() - timedelta(hours=3), outcome=Outcome.FAILED, last_error="HTTP 404")

    html = page(admin_client)

    assert "Items: 1 checked, 0 failing, 0 with a newer version upstream (2 rows shown" in html
    assert html.count('class="item failing not-checked"') == 1


def test_an_ubuntu_iso_source_without_an_http_root_raises_a_banner_saying_what_breaks(admin_client, settings):
    from pxeimport.models import BootSource

    settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = "", ""
    BootSource.objects.create(name="noble-iso", url="https://releases.ubuntu.com/", layout="ubuntu-iso", enabled=True)
    page = admin_client.get("/admin/").content.decode()
    assert "Boot source &#x27;noble-iso&#x27; (ubuntu-iso) and no HTTP root" in page
    assert "which Ubuntu moves away at each point release" in page
    settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = "/srv/pxe-http", "http://boot.example.org/pxe"
    assert "no HTTP root" not in admin_client.get("/admin/").content.decode()
