"""check_name: the gate every architecture, release and source name passes before it becomes a path."""

from __future__ import annotations

import pytest

from pxeimport.lib import InvalidName, check_name


@pytest.mark.parametrize(
    "name",
    [
        "amd64",
        "bookworm",
        "i386",
        "ppc64el",
        "s390x",
        "a",
        "0",
        "9front",
        "arm-64",
        "armhf.2",
        "linux+efi",
        "under_score",
        "a..b",
        "a.",
        "x" * 64,
    ],
)
def test_accepts_a_safe_name_and_returns_it_unchanged(name):
    assert check_name("release", name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dot-dot"),
        pytest.param("...", id="three-dots"),
        pytest.param(".hidden", id="leading-dot"),
        pytest.param("/", id="slash"),
        pytest.param("a/b", id="slash-inside"),
        pytest.param("../etc", id="parent-escape"),
        pytest.param("/etc", id="absolute"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("Bookworm", id="upper-case"),
        pytest.param("AMD64", id="all-upper-case"),
        pytest.param("bookwörm", id="unicode-letter"),
        pytest.param("١٢٣", id="unicode-digits"),
        pytest.param("x" * 65, id="65-chars"),
        pytest.param("a b", id="space"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("bookworm\n", id="trailing-newline"),
        pytest.param("-rf", id="leading-dash"),
        pytest.param("_loader", id="leading-underscore"),
        pytest.param("+x", id="leading-plus"),
    ],
)
def test_refuses_a_name_that_is_not_one_safe_path_component(name):
    with pytest.raises(InvalidName):
        check_name("release", name)


@pytest.mark.parametrize("value", [None, 42, b"amd64"])
def test_refuses_a_value_that_is_not_a_string(value):
    with pytest.raises(InvalidName):
        check_name("architecture", value)


def test_the_message_names_the_kind_and_quotes_the_value():
    with pytest.raises(InvalidName) as caught:
        check_name("architecture", "../etc")
    message = str(caught.value)
    assert message.startswith("invalid architecture name '../etc'")
    assert "a-z 0-9" in message


def test_invalid_name_is_a_value_error_so_callers_may_catch_either():
    with pytest.raises(ValueError):
        check_name("release", "..")
