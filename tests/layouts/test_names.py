"""Names an operator types: the other world's arch names and mistyped release codenames are refused with the
name meant, on the command line and in the admin; new names far from any known one are taken as typed."""

from __future__ import annotations

import pytest

from pxeimport.layouts import arch_problem, release_problem
from pxeimport.models import BootSource
from tests.support.commands import CommandResult


@pytest.mark.parametrize(("typed", "meant"), [("x86_64", "amd64"), ("aarch64", "arm64"), ("ppc64le", "ppc64el")])
def test_an_arch_named_as_the_kernel_names_it_is_refused_naming_debians_name(typed, meant):
    assert (
        arch_problem(typed) == f"{typed!r} is not what Debian and Ubuntu call an architecture: they call it {meant!r}"
    )


@pytest.mark.parametrize(("typed", "meant"), [("bookwrom", "bookworm"), ("trixy", "trixie"), ("nobel", "noble")])
def test_a_release_a_letter_or_two_from_a_known_codename_is_refused_naming_it(typed, meant):
    problem = release_problem(typed)
    assert problem is not None and f"did you mean {meant!r}?" in problem


@pytest.mark.parametrize("name", ["bookworm", "noble", "testing", "unstable", "sid", "mysuite", "forky", "amd64"])
def test_known_codenames_suites_and_new_names_far_from_any_are_taken(name):
    assert release_problem(name) is None and arch_problem(name) is None


@pytest.mark.django_db
def test_the_command_refuses_them_before_any_request(import_pxe, archive_server):
    for args, says in (
        (("--arch", "x86_64", "--release", "bookworm"), "--arch x86_64: 'x86_64' is not what Debian and Ubuntu call"),
        (("--arch", "amd64", "--release", "bookwrom"), "--release bookwrom: release 'bookwrom' is not one"),
    ):
        result: CommandResult = import_pxe(*args)
        assert result.code == 2 and says in result.stderr
    assert archive_server.requests == []


@pytest.mark.django_db
def test_the_admin_refuses_them_and_saves_nothing(admin_client):
    form = {
        "name": "debian",
        "url": "http://debian.example.org/debian/dists/",
        "layout": "debian-installer",
        "distribution": "debian",
        "current_release": "bookworm",
        "enabled": "on",
        "arches-TOTAL_FORMS": "1",
        "arches-INITIAL_FORMS": "0",
        "arches-0-name": "x86_64",
        "releases-TOTAL_FORMS": "1",
        "releases-INITIAL_FORMS": "0",
        "releases-0-name": "bookwrom",
    }
    page = admin_client.post("/admin/pxeimport/bootsource/add/", form).content.decode()
    assert "they call it &#x27;amd64&#x27;" in page and "did you mean &#x27;bookworm&#x27;?" in page
    assert not BootSource.objects.filter(name="debian").exists()
