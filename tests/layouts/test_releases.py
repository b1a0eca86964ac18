"""Supported and stable releases from distro-info-data; clear errors when the data is missing or outdated."""

from __future__ import annotations

import datetime

import distro_info
import pytest

from pxeimport.layouts.releases import (
    DATA_PACKAGE,
    Release,
    ReleaseDataError,
    known_releases,
    stable_release,
    supported_releases,
)
from pxeimport.lib import check_name

FAR_FUTURE = datetime.date(2100, 1, 1)


@pytest.mark.parametrize("distribution", ["ubuntu", "debian"])
def test_supported_releases_today_are_valid_release_names(distribution):
    releases = supported_releases(distribution)
    assert releases
    assert len(set(releases)) == len(releases)
    for name in releases:
        assert check_name("release", name) == name


@pytest.mark.parametrize("distribution", ["ubuntu", "debian"])
def test_the_stable_release_today_is_supported(distribution):
    stable = stable_release(distribution)
    assert check_name("release", stable) == stable
    assert stable in supported_releases(distribution)


def test_debian_supported_releases_leave_out_sid_and_experimental():
    releases = supported_releases("debian")
    assert "sid" not in releases
    assert "experimental" not in releases


def test_supported_releases_on_a_given_day_come_from_the_data():
    assert "bookworm" in supported_releases("debian", datetime.date(2024, 1, 1))
    assert stable_release("debian", datetime.date(2024, 1, 1)) == "bookworm"
    assert stable_release("ubuntu", datetime.date(2024, 6, 1)) == "noble"
    jammy_days = supported_releases("ubuntu", datetime.date(2024, 6, 1))
    assert jammy_days.index("jammy") < jammy_days.index("noble")


def test_supported_ubuntu_releases_far_in_the_future_are_an_outdated_data_error():
    with pytest.raises(ReleaseDataError) as caught:
        supported_releases("ubuntu", FAR_FUTURE)
    assert "outdated" in str(caught.value)
    assert DATA_PACKAGE in str(caught.value)


@pytest.mark.parametrize("distribution", ["ubuntu", "debian"])
def test_the_stable_release_far_in_the_future_is_an_outdated_data_error(distribution):
    with pytest.raises(ReleaseDataError) as caught:
        stable_release(distribution, FAR_FUTURE)
    message = str(caught.value)
    assert "outdated" in message
    assert "distro-info-data" in message
    assert distribution in message
    assert isinstance(caught.value.__cause__, distro_info.DistroDataOutdated)


def test_supported_debian_releases_far_in_the_future_are_an_outdated_data_error():
    with pytest.raises(ReleaseDataError, match="outdated"):
        supported_releases("debian", FAR_FUTURE)


@pytest.mark.parametrize("call", [supported_releases, stable_release, known_releases])
def test_an_unknown_distribution_is_a_release_data_error(call):
    with pytest.raises(ReleaseDataError, match="knows no distribution 'fedora'"):
        call("fedora")


@pytest.fixture
def data_dir(monkeypatch, tmp_path):
    """distro-info reads its CSVs from _get_data_dir() on every construction; point it at tmp_path."""
    monkeypatch.setattr(distro_info, "_get_data_dir", lambda: str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("call", [supported_releases, stable_release, known_releases])
def test_a_missing_data_file_is_a_release_data_error_naming_the_package(data_dir, call):
    with pytest.raises(ReleaseDataError) as caught:
        call("debian")
    message = str(caught.value)
    assert f"install the {DATA_PACKAGE} package" in message
    assert str(data_dir / "debian.csv") in message


def test_an_unreadable_data_file_is_a_release_data_error(data_dir):
    (data_dir / "ubuntu.csv").write_text(
        "version,codename,series,created,release,eol\n24.04 LTS,Noble Numbat,noble,someday,2024-04-25,2029-05-31\n"
    )
    with pytest.raises(ReleaseDataError, match="unreadable"):
        supported_releases("ubuntu")


def test_a_data_file_listing_no_release_is_an_outdated_data_error(data_dir):
    (data_dir / "debian.csv").write_text("version,codename,series,created,release,eol\n")
    with pytest.raises(ReleaseDataError) as caught:
        supported_releases("debian")
    assert "outdated" in str(caught.value)
    assert DATA_PACKAGE in str(caught.value)


def test_a_data_file_with_other_columns_is_a_release_data_error(data_dir):
    (data_dir / "debian.csv").write_text("number,name,created\n12,bookworm,2021-08-14\n")
    with pytest.raises(ReleaseDataError):
        supported_releases("debian")


def test_known_releases_are_newest_first_and_marked_supported():
    today = datetime.date(2024, 6, 1)
    releases = known_releases("ubuntu", today)
    codenames = [r.codename for r in releases]
    assert codenames.index("noble") < codenames.index("jammy") < codenames.index("focal")
    by_codename = {r.codename: r for r in releases}
    assert by_codename["noble"] == Release(codename="noble", version="24.04", name="Noble Numbat", supported=True)
    assert by_codename["trusty"].supported is False
    assert by_codename["noble"].label == "noble (Noble Numbat 24.04)"


def test_a_release_without_a_version_has_a_label_without_one():
    assert Release(codename="sid", version="", name="Sid", supported=False).label == "sid (Sid)"
