"""The operator's admin flow in a real headless Chromium: log in, pick an arch and a release, import now, see the run.

Playwright drives Debian's /usr/bin/chromium (never a downloaded browser) against pytest-django's
live_server; the import runs as a real background process from a loopback archive.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from pxeimport.models import BootSource, ImportRun, ItemState, RunStatus
from tests.support.background_import import loopback_source
from tests.support.web import admin_page
from tools.archive import netboot_files

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "browser-status.png"


@pytest.fixture
def local_source(archive, archive_server, signer, tftp_root, settings, monkeypatch, tmp_path) -> BootSource:
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    return loopback_source(archive_server, signer, tftp_root, tmp_path / "var", settings, monkeypatch)


def test_an_operator_picks_a_release_imports_now_and_sees_the_run(live_server, local_source, tftp_root):
    from playwright.sync_api import expect

    User.objects.create_superuser("operator", "operator@example.invalid", "a long password")

    # No ORM calls while Playwright's event loop is set in this thread: a connection opened there would
    # live in the loop's context and outlast the test. The browser alone watches the run finish.
    with admin_page(live_server.url, "operator", "a long password", width=1400) as page:
        expect(page.locator("#last-run")).to_contain_text("No import has run yet")

        page.goto(f"{live_server.url}/admin/pxeimport/bootsource/{local_source.pk}/change/")
        page.fill("input[name=arches-0-name]", "amd64")
        page.fill("input[name=releases-0-name]", "bookworm")
        page.fill("input[name=releases-0-kernel_opts]", "console=ttyS0")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist li.success")).to_contain_text("was changed successfully")

        page.goto(f"{live_server.url}/admin/")
        page.click("#status-link")
        expect(page.locator("#items")).to_contain_text("No item has been checked yet")

        page.click("#import-now-button")
        expect(page.locator(".messagelist li.success")).to_contain_text("Import started in the background")

        newest_run = page.locator("tr.run").first
        deadline = time.monotonic() + 60
        while newest_run.count() == 0 or "status-running" in (newest_run.get_attribute("class") or ""):
            assert time.monotonic() < deadline, "the background import did not finish within 60 s"
            page.wait_for_timeout(250)
            page.reload()
        expect(newest_run).to_contain_text("Succeeded")
        expect(newest_run).to_contain_text("Admin")
        items = page.locator("#items").inner_text()
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    run = ImportRun.objects.get()
    assert (run.status, run.trigger, run.items_installed) == (RunStatus.SUCCEEDED, "admin", 2)
    assert ItemState.objects.get(kind="install", release="bookworm").live_version in items
    assert local_source.releases.get().kernel_opts == "console=ttyS0"
    assert (tftp_root / "maas" / "amd64" / "base" / "bookworm" / "install" / "linux").exists()
