"""The Racks page, Sync now and the metrics endpoint, from rack reports as the region worker stores them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pxeimport.models import Rack
from pxeimport.publication import INDEX, INSTALL, LOADER, Publication, PublishedFile, PublishedItem
from pxeimport.racks import all_statuses, rack_queue, record_report, region_id
from tests.support.requirements import require_rabbitmq, require_tool

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


def report(name: str, version: str, error: str = "", item_error: str = "", **extra: Any) -> None:
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
    payload = {"rack": name, "items": items, "bytes": 10, "error": error, "index_read": not error}
    record_report(payload | {"region": region_id()} | extra)


@pytest.fixture
def region(tmp_path, settings):
    require_tool("gpg")
    settings.PXEIMPORT_REGION_GNUPGHOME = tmp_path / "region-gnupg"  # the region's key: its queues' names
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

    region.CELERY_BROKER_URL = require_rabbitmq()
    queue = rack_queue("behind")  # named after this region's key id: no other region's
    from pxeimport.racks import tasks as racks

    racks.app.conf.broker_url = region.CELERY_BROKER_URL
    try:
        pk = Rack.objects.get(name="behind").pk
        response = admin_client.post(
            "/admin/pxeimport/rack/", {"action": "sync_now", "_selected_action": [pk]}, follow=True
        )
        assert "Asked 1 rack(s) to converge." in response.content.decode()
        assert Rack.objects.get(name="behind").asked is not None
        with Connection(region.CELERY_BROKER_URL) as connection:  # type: ignore[no-untyped-call]
            _, count, _ = connection.default_channel.queue_declare(queue, passive=True)
            connection.default_channel.queue_delete(queue)
        assert count == 1
    finally:
        forget_connections(racks.app)
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


def test_sync_now_needs_its_own_permission_not_only_the_view_permission(client, region, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_rack"))
    client.force_login(viewer)
    page = client.get("/admin/pxeimport/rack/").content.decode()
    assert ">behind<" in page and "sync_now" not in page
    pk = Rack.objects.get(name="behind").pk
    client.post("/admin/pxeimport/rack/", {"action": "sync_now", "_selected_action": [pk]})
    assert Rack.objects.get(name="behind").asked is None
    viewer.user_permissions.add(Permission.objects.get(codename="sync_rack"))
    assert "sync_now" in client.get("/admin/pxeimport/rack/").content.decode()


def test_a_report_for_another_region_is_ignored_and_logged(region, caplog):
    with caplog.at_level(logging.WARNING):
        record_report({"rack": "stranger", "region": "0123456789abcdef", "items": [], "index_read": True})
    assert not Rack.objects.filter(name="stranger").exists()
    assert "following region '0123456789abcdef', not this one" in caplog.text


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "", "a" * 65, "../etc"])
def test_a_report_naming_no_valid_rack_is_ignored(region, name):
    before = Rack.objects.count()
    assert record_report({"rack": name, "region": region_id(), "queue": "amq.rabbitmq.trace"}) is None
    assert Rack.objects.count() == before


def test_the_region_derives_a_racks_queue_from_its_name_never_from_the_report(region):
    rack = record_report({"rack": "r9", "region": region_id(), "queue": "somebody.elses.queue", "hello": True})
    assert rack is not None and rack.queue == rack_queue("r9") == f"pxeimport.{region_id()}.rack.r9"


def test_the_region_stamps_a_report_with_its_own_clock_not_the_racks(region):
    future = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    report("fast-clock", V2, finished=future)
    rack = Rack.objects.get(name="fast-clock")
    assert rack.last_sync is not None and rack.last_sync <= datetime.now(UTC)
    synced = rack.items.get(kind=INSTALL).synced
    assert synced is not None and synced <= datetime.now(UTC)


def test_a_rack_silent_for_two_safety_net_periods_is_unreachable_with_a_banner_and_in_metrics(admin_client, region):
    region.PXEIMPORT_RACK_SYNC_SECONDS = 900
    Rack.objects.filter(name="in-sync").update(last_seen=datetime.now(UTC) - timedelta(days=3))
    page = admin_client.get("/admin/pxeimport/rack/").content.decode()
    assert "Rack in-sync is unreachable" in page and "nothing heard from it for 4320 min" in page
    assert "Rack in-sync is unreachable" in admin_client.get("/admin/status/").content.decode()
    text = admin_client.get("/metrics").content.decode()
    assert 'pxeimport_rack_state{rack="in-sync",state="unreachable"} 1.0' in text


def test_a_rack_that_did_not_answer_a_sync_now_is_unreachable_but_one_that_said_it_started_is_not(admin_client, region):
    region.PXEIMPORT_RACK_ANSWER_SECONDS = 120
    asked = datetime.now(UTC) - timedelta(minutes=5)
    Rack.objects.filter(name__in=["in-sync", "behind"]).update(asked=asked, last_seen=asked - timedelta(seconds=1))
    record_report({"rack": "behind", "region": region_id(), "stage": "started"})
    page = admin_client.get("/admin/pxeimport/rack/").content.decode()
    assert "Rack in-sync is unreachable" in page and "no answer for 300 s" in page
    assert "Rack behind is unreachable" not in page


def test_a_rack_whose_clock_is_off_is_shown_with_clock_skew_and_a_banner(admin_client, region):
    report("skewed", V2, clock_offset=3 * 3600.0)
    page = admin_client.get("/admin/pxeimport/rack/").content.decode()
    assert "Rack skewed has clock skew" in page and "its clock is 10800 s ahead of" in page
    text = admin_client.get("/metrics").content.decode()
    assert 'pxeimport_rack_clock_offset_seconds{rack="skewed"} 10800.0' in text


def test_a_racks_own_page_lists_each_item_with_its_reason(admin_client, region):
    reason = "not enough space in /srv/tftp: 2097152 bytes needed, 602112 bytes are free"
    report("full", V2, error=f"1 item(s) failed: amd64/bookworm: {reason}", item_error=reason, index_read=True)
    pk = Rack.objects.get(name="full").pk
    page = admin_client.get(f"/admin/pxeimport/rack/{pk}/change/").content.decode()
    assert "602112 bytes are free" in page and "Items (its last report)" in page
    listing = admin_client.get("/admin/pxeimport/rack/").content.decode()
    assert "602112 bytes are free" in listing  # the list's detail column and the banner, not "1 item(s) failed"


def test_what_a_rack_serves_beyond_the_index_is_shown(admin_client, region):
    report("extra", V2, beyond=["amd64/trixie"])
    listing = admin_client.get("/admin/pxeimport/rack/").content.decode()
    assert "serves beyond the region&#x27;s index: amd64/trixie" in listing


def test_a_rack_taken_out_of_service_can_be_deleted_from_the_racks_page(admin_client, region):
    pk = Rack.objects.get(name="behind").pk
    response = admin_client.post(f"/admin/pxeimport/rack/{pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert not Rack.objects.filter(name="behind").exists()


def forget_connections(app: Any) -> None:
    """Make Celery look up its connections and producers again, for the broker its settings name now."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down(region):
    from pxeimport.racks import tasks

    region.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    forget_connections(tasks.app)  # none pooled by an earlier test, to a broker that is up
    tasks.app.conf.broker_url = region.CELERY_BROKER_URL
    try:
        yield region
    finally:
        forget_connections(tasks.app)
        tasks.app.conf.broker_url = None


def test_wake_racks_with_the_broker_down_is_one_line_and_exit_1(broker_down):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as caught:
        call_command("wake_racks", stdout=StringIO())
    assert caught.value.returncode == 1
    assert "the broker amqp://guest:***@127.0.0.1:1// cannot be used" in str(caught.value)
    assert str(caught.value).endswith("; no rack was asked")
    assert not Rack.objects.exclude(asked=None).exists()


def test_sync_now_with_the_broker_down_says_so_instead_of_a_server_error(admin_client, broker_down):
    pk = Rack.objects.get(name="behind").pk
    response = admin_client.post(
        "/admin/pxeimport/rack/", {"action": "sync_now", "_selected_action": [pk]}, follow=True
    )
    assert response.status_code == 200
    assert "No rack was asked: the broker" in response.content.decode()


def test_a_region_import_with_the_broker_down_publishes_and_warns_instead_of_failing(broker_down, caplog):
    from pxeimport.runs.publishing import _wake_racks

    with caplog.at_level(logging.WARNING):
        _wake_racks(True)
    assert "racks not woken: the broker" in caplog.text and "manage.py wake_racks" in caplog.text


def test_a_run_that_changed_the_index_asks_every_rack_and_one_that_did_not_asks_those_behind_it(region, monkeypatch):
    """Found by the soak: a region import killed after it published the index never sent its wake-up, and the
    next run, publishing nothing new, sent none either: racks stayed behind until the safety net."""
    from pxeimport.racks import tasks
    from pxeimport.runs.publishing import _wake_racks

    sent: list[str] = []
    monkeypatch.setattr(tasks, "ask_to_converge", lambda name, reason: sent.append(name))

    _wake_racks(True)
    assert sorted(sent) == ["behind", "failed", "in-sync"]
    sent.clear()
    _wake_racks(False)
    assert sorted(sent) == ["behind", "failed"]  # the failed one never took V2's bookworm; in-sync serves it all


def test_asking_again_does_not_restart_a_silent_racks_wait(region, monkeypatch):
    """Found by CI: the safety net's ask every period reset `asked`, so a stopped rack was unreachable only
    in the second between the answer limit and the next ask."""
    from pxeimport.racks import tasks

    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    Rack.objects.filter(name="in-sync").update(last_seen=long_ago - timedelta(seconds=1), asked=long_ago)
    sent: list[str] = []
    monkeypatch.setattr(tasks, "ask_to_converge", lambda name, reason: sent.append(name))  # no broker: `asked` only
    tasks.ask_racks(list(Rack.objects.filter(name__in=["in-sync", "behind"])), "safety net")
    assert sorted(sent) == ["behind", "in-sync"]
    assert Rack.objects.get(name="in-sync").asked == long_ago  # still the first unanswered ask
    assert Rack.objects.get(name="behind").asked is not None  # it had answered: a new ask


def test_a_rack_serving_the_index_versions_with_other_kernel_options_is_behind_unless_its_worker_says_none(region):
    files = (PublishedFile("linux", "a" * 64, 10),)
    item = PublishedItem("amd64", INSTALL, "bookworm", V2, f"v/amd64/bookworm/install-{V2}/", files, "console=ttyS1")
    root = region.PXEIMPORT_PUBLISH_ROOT
    (root / INDEX).write_bytes(Publication(datetime.now(UTC), "bookworm", (item,)).to_json())
    line = {"arch": "amd64", "kind": INSTALL, "release": "bookworm", "region_version": V2, "error": ""}
    for name, opts in (("old-options", {"kernel_opts": ""}), ("new-options", {"kernel_opts": "console=ttyS1"})):
        record_report({"rack": name, "region": region_id(), "items": [line | opts], "index_read": True})
    record_report({"rack": "older-worker", "region": region_id(), "items": [line], "index_read": True})

    shown = {s.rack.name: (s.state, s.detail) for s in all_statuses()}

    assert shown["old-options"] == ("behind", "lacks amd64/bookworm (its kernel options)")
    assert shown["new-options"] == ("in sync", "")
    assert shown["older-worker"] == ("in sync", "")  # it does not say which options it took: not judged on them


def test_a_rack_whose_last_report_names_what_the_index_withdrew_is_behind_and_asked_again(region, monkeypatch):
    """Found by the soak: a rack down while its region retired a release kept offering it, and the page said in
    sync, because only what the index lists was compared."""
    from pxeimport.racks import tasks
    from pxeimport.runs.publishing import _wake_racks

    trixie = {"arch": "amd64", "kind": INSTALL, "release": "trixie", "region_version": V1, "error": ""}
    record_report({"rack": "in-sync", "region": region_id(), "items": [*in_sync_items(), trixie], "index_read": True})
    sent: list[str] = []
    monkeypatch.setattr(tasks, "ask_to_converge", lambda name, reason: sent.append(name))

    shown = {s.rack.name: (s.state, s.detail) for s in all_statuses()}
    _wake_racks(False)

    assert shown["in-sync"] == ("behind", "still serves amd64/trixie, which the index no longer lists")
    assert "in-sync" in sent


def in_sync_items() -> list[dict[str, Any]]:
    """The items of a report from a rack serving exactly the fixture's index."""
    return [
        {"arch": "amd64", "kind": LOADER, "release": "", "region_version": LV, "error": ""},
        {"arch": "amd64", "kind": INSTALL, "release": "bookworm", "region_version": V2, "error": ""},
    ]
