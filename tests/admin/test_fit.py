"""The admin in a real Chromium at 1366 px (the most common laptop width): every list fits, no column
cut off at the right edge with the longest values an install has (mirror URLs, errors, SHA-256 sums); the boot
source form shows only the fields the chosen layout reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from pxeimport.models import ItemState, Rack
from tests.support.selection import saved_source
from tests.support.web import admin_page
from tools.archive import netboot_files

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LISTS = ["bootsource", "importrun", "itemstate", "install", "installedfile", "rack"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def history(archive, archive_server, signer, import_pxe):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert import_pxe("--arch", "amd64", "--release", "bookworm").code == 0
    long = "http://mirror-with-a-long-name.example.org/pub/linux/distributions/debian/archive/debian/dists/"
    source = saved_source(long, signer.keyring, arches=("amd64", "arm64", "i386"), releases=("bookworm", "trixie"))
    source.proxy = "http://proxy.example.org:3128"
    source.save()
    now = datetime.now(UTC)
    error = "not enough space in /srv/tftp/maas/.staging: 42991616 bytes needed, 602112 bytes are free " * 2
    Rack.objects.create(name="rack-with-a-long-name-1", queue="q", first_seen=now, last_seen=now, last_error=error)
    # The item list's longest: an error and an upstream version (found too wide by a walk).
    ItemState.objects.update(last_error=error, upstream_version="f" * 16)


def test_every_admin_list_fits_1366_pixels(live_server, history):
    User.objects.create_superuser("operator", "operator@example.invalid", "a long password")
    overflowing = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with admin_page(live_server.url, "operator", "a long password") as page:
        for name in LISTS:
            page.goto(f"{live_server.url}/admin/pxeimport/{name}/")
            assert page.locator("#result_list tbody tr").count() > 0, name
            # The table within its box (the admin scrolls the box sideways, hiding columns) and the page.
            table, box = page.evaluate(
                "[document.querySelector('#result_list').offsetWidth,"
                " document.querySelector('#changelist .results').clientWidth]"
            )
            wide = page.evaluate("document.documentElement.scrollWidth")
            if table > box or wide > 1366:
                overflowing[name] = (table, box, wide)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-1366.png"), full_page=True)
    assert overflowing == {}, f"lists wider than their box at 1366 px (table, box, page width): {overflowing}"


def test_the_boot_source_form_shows_only_the_fields_the_chosen_layout_reads(live_server):
    User.objects.create_superuser("operator", "operator@example.invalid", "a long password")
    shown = {}
    with admin_page(live_server.url, "operator", "a long password") as page:
        page.goto(f"{live_server.url}/admin/pxeimport/bootsource/add/")
        for layout in ("debian-installer", "ubuntu-iso", "region"):
            page.select_option("#id_layout", layout)
            shown[layout] = {
                name: page.locator(f".field-{name}").first.is_visible()
                for name in ("installer_dir", "loader_archive", "iso_base_url", "keyring")
            }
        select_right = page.evaluate("document.querySelector('#id_layout').getBoundingClientRect().right")
    assert shown["debian-installer"] == {
        "installer_dir": True, "loader_archive": False, "iso_base_url": False, "keyring": True
    }  # fmt: skip
    ubuntu = {"installer_dir": False, "loader_archive": True, "iso_base_url": True, "keyring": True}
    assert shown["ubuntu-iso"] == ubuntu
    assert shown["region"] == {"installer_dir": False, "loader_archive": False, "iso_base_url": False, "keyring": True}
    assert select_right <= 1366  # the layout box, whose choices are long, stays on the screen


def test_the_status_page_fits_1366_pixels(live_server, history, settings, tftp_root):
    settings.PXEIMPORT_TFTPROOT = tftp_root
    User.objects.create_superuser("operator", "operator@example.invalid", "a long password")
    with admin_page(live_server.url, "operator", "a long password") as page:
        page.goto(f"{live_server.url}/admin/status/")
        wide = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(SCREENSHOTS / "status-1366.png"), full_page=True)
    assert wide <= 1366
