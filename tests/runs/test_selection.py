"""What to import: the saved sources and selections, overridden by command options (pxeimport.runs.selection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxeimport.items import DEFAULT_LAYOUT
from pxeimport.lib import InvalidName
from pxeimport.models import BootSource
from pxeimport.runs.selection import DEFAULT_ARCHES, NothingSelected, Overrides, resolve

pytestmark = pytest.mark.django_db

MIRROR = "http://debian.example.org/debian/dists/"


@pytest.fixture(autouse=True)
def no_saved_sources() -> None:
    BootSource.objects.all().delete()  # a fresh database has the migrations' defaults


def saved(name: str = "debian", **fields: object) -> BootSource:
    fields = {"url": MIRROR, "distribution": "debian", "current_release": "bookworm", **fields}
    return BootSource.objects.create(name=name, **fields)


def test_an_archive_on_the_command_line_is_one_source_with_the_old_scripts_arches():
    [sel] = resolve(Overrides(archive=MIRROR, releases=["bookworm"], current_release="bookworm"))
    assert (sel.source.name, sel.source.url, sel.source.layout) == ("command-line", MIRROR, DEFAULT_LAYOUT)
    assert (sel.arches, sel.releases, sel.current_release) == (DEFAULT_ARCHES, ("bookworm",), "bookworm")


def test_a_keyring_on_the_command_line_replaces_the_default_keyrings(tmp_path: Path):
    keyring = tmp_path / "mirror.gpg"
    [sel] = resolve(Overrides(archive=MIRROR, releases=["bookworm"], current_release="bookworm", keyrings=[keyring]))
    assert sel.source.keyrings == (keyring,)


def test_saved_sources_give_their_arches_releases_and_each_releases_options_after_the_sources():
    source = saved(kernel_opts="console=ttyS0")
    source.arches.create(name="amd64")
    source.releases.create(name="bookworm", kernel_opts="priority=low")
    source.releases.create(name="trixie")
    [sel] = resolve(Overrides())
    assert (sel.source.key, sel.arches, sel.releases) == (source.pk, ("amd64",), ("bookworm", "trixie"))
    assert dict(sel.kernel_opts) == {"bookworm": "console=ttyS0 priority=low", "trixie": "console=ttyS0"}


def test_command_options_override_the_saved_arches_and_releases():
    source = saved()
    source.arches.create(name="amd64")
    source.releases.create(name="bookworm")
    [sel] = resolve(Overrides(arches=["arm64"], releases=["trixie"], current_release="trixie"))
    assert (sel.arches, sel.releases, sel.current_release) == (("arm64",), ("trixie",), "trixie")


def test_disabled_sources_are_not_imported():
    saved("on").releases.create(name="bookworm")
    saved("off", enabled=False).releases.create(name="bookworm")
    assert [s.source.name for s in resolve(Overrides())] == ["on"]


def test_with_no_enabled_source_and_no_archive_it_says_what_to_do():
    saved(enabled=False)
    with pytest.raises(NothingSelected, match="add one in the admin, or pass --archive URL"):
        resolve(Overrides())


def test_a_saved_source_without_releases_gets_its_layouts_supported_releases():
    saved(current_release="").arches.create(name="amd64")
    [sel] = resolve(Overrides())
    assert sel.releases and all(r.isidentifier() for r in sel.releases)


def test_ubuntu_netboot_defaults_only_to_releases_that_have_netboot_tarballs():
    saved(
        "ubuntu", distribution="ubuntu", layout="ubuntu-netboot", url="http://ubuntu.example.org/", current_release=""
    )
    [sel] = resolve(Overrides())
    assert sel.releases and not {"focal", "jammy"} & set(sel.releases)


@pytest.mark.parametrize("bad", [Overrides(arches=["../etc"]), Overrides(releases=["a b"])])
def test_an_unsafe_name_on_the_command_line_is_refused_before_anything_else(bad: Overrides):
    with pytest.raises(InvalidName):
        resolve(bad)
