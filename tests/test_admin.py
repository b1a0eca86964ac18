"""The admin: selection and history pages for staff, nothing for anonymous visitors."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from pxeimport.models import BootSource, ImportRun, Install, InstalledFile, RunStatus

pytestmark = pytest.mark.django_db

PAGES = [
    "admin:index",
    "admin:pxeimport_bootsource_changelist",
    "admin:pxeimport_bootsource_add",
    "admin:pxeimport_importrun_changelist",
    "admin:pxeimport_install_changelist",
    "admin:pxeimport_installedfile_changelist",
]


@pytest.fixture
def history() -> Install:
    run = ImportRun.objects.create(
        started=timezone.now(),
        finished=timezone.now(),
        status=RunStatus.FAILED,
        tftproot="/srv/tftp",
        items_installed=1,
        items_failed=1,
        error_summary="amd64/noble install failed: HTTP 404",
    )
    install = Install.objects.create(
        run=run,
        source_url="http://archive.example/dists/",
        arch="amd64",
        release="bookworm",
        kind="install",
        version="0123456789abcdef",
        path="/srv/tftp/maas/amd64/base/bookworm/install-0123456789abcdef",
        installed=timezone.now(),
    )
    InstalledFile.objects.create(
        install=install, name="linux", sha256="ab" * 32, size=123, url="http://x/linux", downloaded=True
    )
    return install


def test_a_fresh_database_has_the_ubuntu_archive_as_its_one_source():
    source = BootSource.objects.get()
    assert (source.url, source.installer_dir) == ("http://archive.ubuntu.com/ubuntu/dists/", "ubuntu-installer")


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_for_a_staff_user(admin_client, history, page):
    response = admin_client.get(reverse(page))
    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_pages_are_refused_to_anonymous_visitors(client, page):
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_index_shows_the_last_runs_status_at_a_glance(admin_client, history):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Some items failed" in page
    assert "amd64/noble install failed: HTTP 404" in page


def test_history_is_read_only(admin_client, history):
    assert admin_client.get(reverse("admin:pxeimport_importrun_add")).status_code == 403
    change = admin_client.get(reverse("admin:pxeimport_install_change", args=[history.pk])).content.decode()
    assert 'name="_save"' not in change
    assert "0123456789abcdef" in change


def test_history_filters_by_arch_release_and_status(admin_client, history):
    files = admin_client.get(reverse("admin:pxeimport_installedfile_changelist"), {"install__arch": "amd64"})
    assert files.status_code == 200 and "ab" * 32 in files.content.decode()
    installs = admin_client.get(
        reverse("admin:pxeimport_install_changelist"), {"release": "bookworm", "run__status": "failed"}
    )
    assert installs.status_code == 200 and "0123456789abcdef" in installs.content.decode()
    runs = admin_client.get(reverse("admin:pxeimport_importrun_changelist"), {"status__exact": "succeeded"})
    assert "0 results" in runs.content.decode() or "0 import runs" in runs.content.decode()


def test_the_release_box_suggests_releases_from_distro_info(admin_client):
    page = admin_client.get(reverse("admin:pxeimport_bootsource_add")).content.decode()
    assert '<datalist id="release-suggestions">' in page
    assert "noble (Noble Numbat 24.04) — Ubuntu" in page


def test_a_source_with_selections_can_be_saved_from_the_admin(admin_client):
    form = {
        "name": "debian",
        "url": "http://deb.debian.org/debian/dists/",
        "layout": "debian-installer",
        "distribution": "debian",
        "installer_dir": "debian-installer",
        "current_release": "bookworm",
        "enabled": "on",
        "arches-TOTAL_FORMS": "1",
        "arches-INITIAL_FORMS": "0",
        "arches-0-name": "amd64",
        "releases-TOTAL_FORMS": "1",
        "releases-INITIAL_FORMS": "0",
        "releases-0-name": "bookworm",
    }
    response = admin_client.post(reverse("admin:pxeimport_bootsource_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    source = BootSource.objects.get(name="debian")
    assert [a.name for a in source.arches.all()] == ["amd64"]
    assert [r.name for r in source.releases.all()] == ["bookworm"]


@pytest.mark.parametrize("bad", ["../etc", "a/b", "Noble", ".hidden"])
def test_a_release_name_that_could_leave_the_tftp_root_is_refused(admin_client, bad):
    form = {
        "name": "evil",
        "url": "http://mirror.example/dists/",
        "layout": "debian-installer",
        "distribution": "ubuntu",
        "installer_dir": "",
        "current_release": "",
        "enabled": "on",
        "arches-TOTAL_FORMS": "0",
        "arches-INITIAL_FORMS": "0",
        "releases-TOTAL_FORMS": "1",
        "releases-INITIAL_FORMS": "0",
        "releases-0-name": bad,
    }
    response = admin_client.post(reverse("admin:pxeimport_bootsource_add"), form)
    assert response.status_code == 200
    assert not BootSource.objects.filter(name="evil").exists()
