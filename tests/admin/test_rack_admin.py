"""The Racks page, Sync now and the metrics endpoint, from rack reports as the region worker stores them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pxeimport.publication import INDEX, INSTALL, LOADER, Publication, PublishedFile, PublishedItem
from pxeimport.racks import record_report
from tests.support.requirements import require_rabbitmq

pytestmark = pytest.mark.django_db

V1, V2, LV = "1111111111111111", "2222222222222222", "3333333333333333"


def write_index(root: Path, version: str, date: datetime) -> None:
    files = (PublishedFile("linux", "a" * 64, 10),)
    items = (
        PublishedItem("amd64", LOADER, "", LV, f"v/amd64/_loader-{LV}/", files),
        PublishedItem("amd64", INSTALL, "bookworm", version, f"v/amd64/bookworm/install-{version}/", files),
    )
    root.mkdir(exist_ok=True)
    (root / INDEX).write_bytes(Publication(date, "bookworm", items).to_json())


def report(name: str, version: str, error: str = "", item_error: str = "") -> None:
    items = [
        {"arch": "amd64", "kind": LOADER, "release": "", "region_version": LV, "live_version": LV, "error": ""},
        {
            "arch": "amd64",
            "kind": INSTALL,
            "release": "bookworm",
            "region_version": version,
            "live_version": version,
            "error": item_error,
            "bytes": 10,
        },
    ]
    record_report(
        {"rack": name, "queue": f"q.{name}", "items": items, "bytes": 10, "error": error, "index_read": not error}
    )


@pytest.fixture
def region(tmp_path, settings):
    settings.PXEIMPORT_PUBLISH_ROOT = tmp_path / "publish"
    settings.PXEIMPORT_RACK_LAG_MINUTES = 60
    write_index(settings.PXEIMPORT_PUBLISH_ROOT, V2, datetime.now(UTC) - timedelta(hours=3))
    report("in-sync", V2)
    report("behind", V1)
    report("failed", V2, item_error="disk full")
    return settings


def test_the_racks_page_shows_each_rack_against_the_regions_index_and_a_lag_banner(admin_client, region):
    page = admin_client.get("/admin/pxeimport/rack/").content.decode()
    for name, state in (("in-sync", "in sync"), ("behind", "behind"), ("failed", "failed")):
        assert f">{name}<" in page and state in page
    assert "lacks amd64/bookworm" in page
    assert "disk full" in page
    # Behind since the index was published 3 hours ago: beyond the 60 minutes allowed.
    assert "Rack behind has been behind since" in page
    assert "Rack in-sync has been" not in page


def test_no_banner_while_the_lag_is_within_the_setting(admin_client, region):
    region.PXEIMPORT_RACK_LAG_MINUTES = 600
    page = admin_client.get("/admin/pxeimport/rack/").content.decode()
    assert "Rack behind has been" not in page


def test_sync_now_puts_a_converge_on_each_selected_racks_queue(admin_client, region):
    from kombu.connection import Connection

    from pxeimport.models import Rack

    region.CELERY_BROKER_URL = require_rabbitmq()
    queue = f"pxeimport-test-{secrets.token_hex(4)}.rack.behind"
    Rack.objects.filter(name="behind").update(queue=queue)
    from pxeimport.racks import tasks as racks

    racks.app.conf.broker_url = region.CELERY_BROKER_URL
    try:
        pk = Rack.objects.get(name="behind").pk
        response = admin_client.post(
            "/admin/pxeimport/rack/", {"action": "sync_now", "_selected_action": [pk]}, follow=True
        )
        assert "Asked 1 rack(s) to converge." in response.content.decode()
        with Connection(region.CELERY_BROKER_URL) as connection:  # type: ignore[no-untyped-call]
            _, count, _ = connection.default_channel.queue_declare(queue, passive=True)
            connection.default_channel.queue_delete(queue)
        assert count == 1
    finally:
        racks.app.conf.broker_url = None


def test_metrics_need_a_token_or_a_staff_login(client, admin_client, region):
    region.PXEIMPORT_METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()
    assert 'pxeimport_rack_state{rack="behind",state="behind"} 1.0' in text
    assert 'pxeimport_rack_state{rack="in-sync",state="in sync"} 1.0' in text
    assert 'pxeimport_rack_lag_seconds{rack="in-sync"} 0.0' in text
    lag = next(line for line in text.splitlines() if line.startswith('pxeimport_rack_lag_seconds{rack="behind"}'))
    assert float(lag.split()[-1]) > 3 * 3600 - 60
    assert admin_client.get("/metrics").status_code == 200


def test_a_lagging_rack_raises_a_banner_on_the_admin_index_and_the_status_page_too(admin_client, region):
    for url in ("/admin/", "/admin/status/"):
        page = admin_client.get(url).content.decode()
        assert "Rack behind has been behind since" in page and "PXEIMPORT_RACK_LAG_MINUTES=60" in page
        assert "Rack in-sync has been" not in page


def test_a_single_machine_without_racks_gets_no_rack_banner(admin_client, settings):
    assert "PXEIMPORT_RACK_LAG_MINUTES" not in admin_client.get("/admin/").content.decode()
