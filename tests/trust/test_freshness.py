"""Freshness of signed indexes: Release dates parsed, Valid-Until and future Dates judged, replays remembered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pxeimport.trust import ReleaseFormatError, SignatureError, parse_release_dates
from pxeimport.trust.freshness import (
    MAX_FUTURE_SECONDS,
    Freshness,
    FreshnessStore,
    StaleIndex,
    check_dates,
    from_timestamp,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = "http://mirror.test/dists/bookworm/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sat, 10 Jun 2023 08:49:23 UTC", datetime(2023, 6, 10, 8, 49, 23, tzinfo=UTC)),
        ("Sat, 10 Jun 2023 08:49:23 GMT", datetime(2023, 6, 10, 8, 49, 23, tzinfo=UTC)),
        ("Sat, 10 Jun 2023 10:49:23 +0200", datetime(2023, 6, 10, 8, 49, 23, tzinfo=UTC)),
        ("Sat, 10 Jun 2023 08:49:23 -0000", datetime(2023, 6, 10, 8, 49, 23, tzinfo=UTC)),
    ],
)
def test_release_dates_are_read_as_rfc_2822_in_utc(value, expected):
    dates = parse_release_dates(f"Origin: Debian\nDate: {value}\nValid-Until: {value}\nSHA256:\n x 1 y\n")
    assert dates.date == expected and dates.valid_until == expected


def test_a_release_without_dates_has_none():
    dates = parse_release_dates("Origin: Debian\nSHA256:\n Date: not a field\n")
    assert dates.date is None and dates.valid_until is None


def test_a_malformed_date_is_refused_naming_the_field():
    with pytest.raises(ReleaseFormatError, match="InRelease: Valid-Until 'next tuesday' is not an RFC 2822 date"):
        parse_release_dates("Valid-Until: next tuesday\n", name="InRelease")


def test_a_release_past_valid_until_is_stale_naming_both_times():
    with pytest.raises(StaleIndex) as caught:
        check_dates("InRelease", Freshness(NOW - timedelta(days=9), NOW - timedelta(days=2)), NOW)
    assert "Valid-Until Sat, 30 May 2026 12:00:00 UTC has passed (now Mon, 01 Jun 2026 12:00:00 UTC)" in str(
        caught.value
    )
    assert isinstance(caught.value, SignatureError)  # fails the item like any signature error: exit 1


def test_an_expired_release_allowed_by_its_source_gives_a_warning():
    warning = check_dates("InRelease", Freshness(None, NOW - timedelta(days=2)), NOW, allow_expired=True)
    assert warning.startswith("InRelease: expired: its Valid-Until Sat, 30 May 2026")
    assert "allows expired indexes" in warning


def test_a_release_within_valid_until_passes_silently():
    assert check_dates("InRelease", Freshness(NOW, NOW + timedelta(seconds=1)), NOW) == ""


def test_a_date_slightly_ahead_of_the_clock_is_tolerated_but_not_further():
    assert check_dates("x", Freshness(NOW + timedelta(seconds=MAX_FUTURE_SECONDS)), NOW) == ""
    with pytest.raises(StaleIndex, match="not valid yet"):
        check_dates("x", Freshness(NOW + timedelta(seconds=MAX_FUTURE_SECONDS + 1)), NOW)


def test_the_store_refuses_an_older_date_naming_both(tmp_path):
    store = FreshnessStore(tmp_path / "freshness.json")
    store.record(KEY, NOW)
    with pytest.raises(StaleIndex) as caught:
        store.check(KEY, KEY + "InRelease", NOW - timedelta(days=60))
    message = str(caught.value)
    assert message.startswith(f"{KEY}InRelease: older than the index already trusted")
    assert "Thu, 02 Apr 2026 12:00:00 UTC" in message and "Mon, 01 Jun 2026 12:00:00 UTC" in message


def test_the_same_or_a_newer_date_passes_and_only_a_newer_one_is_recorded(tmp_path):
    store = FreshnessStore(tmp_path / "freshness.json")
    store.record(KEY, NOW)
    store.check(KEY, "x", NOW)
    store.record(KEY, NOW - timedelta(days=1))
    assert store.newest(KEY) == NOW
    store.record(KEY, NOW + timedelta(days=1))
    assert FreshnessStore(tmp_path / "freshness.json").newest(KEY) == NOW + timedelta(days=1)


def test_keys_are_independent(tmp_path):
    store = FreshnessStore(tmp_path / "freshness.json")
    store.record(KEY, NOW)
    store.check("http://mirror.test/dists/trixie/", "x", NOW - timedelta(days=300))


def test_a_read_only_store_never_writes(tmp_path):
    store = FreshnessStore(tmp_path / "cache" / "freshness.json", writable=False)
    store.record(KEY, NOW)
    assert not (tmp_path / "cache").exists()


def test_the_file_is_json_keyed_by_url_and_private(tmp_path):
    path = tmp_path / ".cache" / "freshness.json"
    FreshnessStore(path).record(KEY, NOW)
    assert json.loads(path.read_text()) == {KEY: "2026-06-01T12:00:00+00:00"}
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"http://x/": "yesterday", "http://y/": 3}'])
def test_a_damaged_file_is_forgotten_not_fatal(tmp_path, content, caplog):
    path = tmp_path / "freshness.json"
    path.write_text(content)
    store = FreshnessStore(path)
    assert store.newest("http://x/") is None
    store.record(KEY, NOW)
    assert store.newest(KEY) == NOW


def test_a_write_failure_is_logged_not_raised(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("")
    FreshnessStore(blocked / "freshness.json").record(KEY, NOW)
    assert "could not record the Date" in caplog.text


def test_a_signature_time_of_zero_is_unknown():
    assert from_timestamp(0) is None
    assert from_timestamp(1795719998) == datetime(2026, 11, 26, 19, 6, 38, tzinfo=UTC)
