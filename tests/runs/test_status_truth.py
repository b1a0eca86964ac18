"""The status page reads what is served from the root, speaks for the configured root's saved selection only,
and each run's row says what it retired, deleted and which menus it wrote (issue 20, cases 6 and 7)."""

from __future__ import annotations

import contextlib
import shutil
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from pxeimport.models import BootSource, ImportRun, ItemState
from tests.support.selection import saved_source
from tests.support.tree import base
from tools.archive import netboot_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(archive, archive_server, signer, settings, tftp_root) -> BootSource:
    settings.PXEIMPORT_TFTPROOT = tftp_root
    settings.PXEIMPORT_GRACE_SECONDS = 3600
    for release in ("bookworm", "trixie"):
        archive.publish(release, "amd64", netboot_files(f"{release}-amd64", uefi=True))
    return saved_source(archive_server.url + "dists/", signer.keyring, releases=("bookworm", "trixie"))


def run(*args: str) -> None:
    with contextlib.suppress(CommandError):  # the tests read what the run left, not its exit
        call_command("import_pxe_files", *args, stdout=StringIO(), stderr=StringIO())


def status(admin_client) -> str:
    return str(admin_client.get(reverse("admin:status")).content.decode())


def test_a_retired_release_shows_as_retired_then_as_not_served_never_as_live(source, settings, admin_client):
    run()
    source.releases.filter(name="trixie").delete()

    run()

    last = ImportRun.objects.first()
    assert last is not None and not last.narrowed
    assert "retired amd64/trixie: not in the saved selection; off the boot menus now" in last.changes
    assert "amd64 boot menus: wrote pxelinux.cfg/default, grub/grub.cfg (default bookworm)" in last.changes
    html = status(admin_client)
    assert "the release is retired since" in html and "(off the menus); its files go after" in html

    settings.PXEIMPORT_GRACE_SECONDS = 0
    run()

    deleting = ImportRun.objects.first()
    assert (
        deleting is not None
        and "removed amd64/trixie: out of the saved selection for more than 0 s" in deleting.changes
    )
    html = status(admin_client)
    trixie_row = html.split("<td>trixie</td>")[1].split("</tr>")[0]
    assert "not served: nothing on disk" in trixie_row
    assert "the last run that checked it left" in trixie_row  # what the database remembered, said as such


def test_one_off_runs_and_other_roots_colour_nothing(source, admin_client, archive_server, signer, tmp_path):
    run()
    assert "did not succeed" not in status(admin_client)

    other_root = tmp_path / "elsewhere"
    run("--tftproot", str(other_root), "--archive", archive_server.url + "dists/", "--keyring", str(signer.keyring),
        "--arch", "amd64", "--release", "nosuch-typo", "--current-release", "bookworm")  # fmt: skip

    last = ImportRun.objects.first()
    assert last is not None and last.narrowed and last.items_failed
    html = status(admin_client)
    assert "did not succeed" not in html, "a one-off run into another root turned the banner red"
    assert "Items: 3 checked, 0 failing" in html
    assert "Other items: " in html and "nosuch-typo" in html.split('id="other-items"')[1]


def test_an_arch_whose_loaders_are_served_with_no_installer_raises_a_banner(source, tftp_root, admin_client):
    run()
    for release in ("bookworm", "trixie"):
        shutil.rmtree(base(tftp_root, "amd64") / release)

    html = status(admin_client)

    assert "amd64: pre-boot loaders are served but no installer is" in html


def test_an_item_state_can_be_forgotten_from_the_admin(source, admin_client):
    run()
    state = ItemState.objects.get(release="trixie", kind="install")

    response = admin_client.post(
        reverse("admin:pxeimport_itemstate_changelist"), {"action": "forget", "_selected_action": [state.pk]}
    )

    assert response.status_code == 302
    assert not ItemState.objects.filter(pk=state.pk).exists()
    assert ItemState.objects.filter(release="bookworm").exists()
