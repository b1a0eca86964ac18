"""The admin: selection and history pages for staff, nothing for anonymous visitors."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from pxeimport.models import BootSource, ImportRun, Install, InstalledFile, ItemState, RunStatus
from tests.support.selection import saved_source
from tools.archive import netboot_files

pytestmark = pytest.mark.django_db

PAGES = [
    "admin:index",
    "admin:pxeimport_bootsource_changelist",
    "admin:pxeimport_bootsource_add",
    "admin:pxeimport_importrun_changelist",
    "admin:pxeimport_install_changelist",
    "admin:pxeimport_installedfile_changelist",
    "admin:pxeimport_itemstate_changelist",
    "admin:status",
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


def test_a_fresh_database_keeps_the_old_ubuntu_archive_source_but_disabled():
    source = BootSource.objects.get(layout="debian-installer")
    assert (source.url, source.installer_dir) == ("http://archive.ubuntu.com/ubuntu/dists/", "ubuntu-installer")
    assert not source.enabled


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


def source_form(**fields: str) -> dict[str, str]:
    """The boot source add/change form as a browser posts it, with one arch and one release row."""
    form = {
        "name": "debian",
        "url": "http://debian.example.org/debian/dists/",
        "layout": "debian-installer",
        "distribution": "debian",
        "installer_dir": "debian-installer",
        "current_release": "bookworm",
        "keyring": "",
        "proxy": "",
        "kernel_opts": "",
        "enabled": "on",
        "arches-TOTAL_FORMS": "1",
        "arches-INITIAL_FORMS": "0",
        "arches-0-name": "amd64",
        "releases-TOTAL_FORMS": "1",
        "releases-INITIAL_FORMS": "0",
        "releases-0-name": "bookworm",
        "releases-0-kernel_opts": "",
    }
    return {**form, **fields}


def save_source(admin_client, source: BootSource | None = None, /, **fields: str):
    """Post the form; the response (302 when saved)."""
    if source is None:
        return admin_client.post(reverse("admin:pxeimport_bootsource_add"), source_form(**fields))
    form = source_form(
        **{"arches-TOTAL_FORMS": "0", "releases-TOTAL_FORMS": "0", "name": source.name, "url": source.url, **fields}
    )
    return admin_client.post(reverse("admin:pxeimport_bootsource_change", args=[source.pk]), form)


def test_a_source_with_selections_can_be_saved_from_the_admin(admin_client):
    response = save_source(admin_client)
    assert response.status_code == 302, response.content.decode()[:2000]
    source = BootSource.objects.get(name="debian")
    assert [a.name for a in source.arches.all()] == ["amd64"]
    assert [r.name for r in source.releases.all()] == ["bookworm"]


@pytest.mark.parametrize("bad", ["../etc", "a/b", "Noble", ".hidden"])
def test_a_release_name_that_could_leave_the_tftp_root_is_refused(admin_client, bad):
    response = save_source(admin_client, name="evil", **{"releases-0-name": bad})
    assert response.status_code == 200
    assert not BootSource.objects.filter(name="evil").exists()


def test_kernel_options_are_saved_for_a_source_and_for_each_release(admin_client):
    release_opts = {"releases-0-kernel_opts": "priority=low"}
    response = save_source(admin_client, kernel_opts="console=ttyS0,115200", **release_opts)
    assert response.status_code == 302, response.content.decode()[:2000]
    source = BootSource.objects.get(name="debian")
    assert source.kernel_opts == "console=ttyS0,115200"
    assert source.releases.get().kernel_opts == "priority=low"
    change = admin_client.get(reverse("admin:pxeimport_bootsource_change", args=[source.pk])).content.decode()
    assert 'name="releases-0-kernel_opts"' in change and 'value="priority=low"' in change


@pytest.mark.parametrize(
    "bad", ["quiet\nsingle", "quiet\tsplash", "init=/bin/sh;reboot", 'append="x"', "a\\b", "café", "x=$HOME"]
)
def test_kernel_options_that_could_break_a_boot_menu_line_are_refused(admin_client, bad):
    assert save_source(admin_client, kernel_opts=bad).status_code == 200
    assert save_source(admin_client, **{"releases-0-kernel_opts": bad}).status_code == 200
    assert not BootSource.objects.filter(name="debian").exists()


@pytest.mark.parametrize(
    "bad", ["proxy.example:3128", "ftp://proxy.example/", "http://", "http://proxy:99999", "http://proxy:3128/path"]
)
def test_a_proxy_that_is_not_an_http_proxy_url_is_refused(admin_client, bad):
    assert save_source(admin_client, proxy=bad).status_code == 200
    assert not BootSource.objects.filter(name="debian").exists()


def test_every_editable_boot_source_field_is_on_its_admin_form(admin_client):
    page = admin_client.get(reverse("admin:pxeimport_bootsource_add")).content.decode()
    editable = [f.name for f in BootSource._meta.concrete_fields if f.editable and not f.primary_key]
    assert "kernel_opts" in editable and "proxy" in editable
    assert [name for name in editable if f'name="{name}"' not in page] == []


@pytest.fixture
def proxied() -> BootSource:
    return BootSource.objects.create(
        name="proxied", url="http://mirror.example/debian/dists/", proxy="http://maas:s3cret@squid.example:3128"
    )


def test_a_proxy_password_is_never_shown_in_the_admin(admin_client, proxied):
    listing = admin_client.get(reverse("admin:pxeimport_bootsource_changelist")).content.decode()
    change = admin_client.get(reverse("admin:pxeimport_bootsource_change", args=[proxied.pk])).content.decode()
    for html in (listing, change):
        assert "http://maas:***@squid.example:3128" in html
        assert "s3cret" not in html


def test_saving_a_source_with_its_masked_proxy_keeps_the_password(admin_client, proxied):
    response = save_source(admin_client, proxied, proxy="http://maas:***@squid.example:3129")
    assert response.status_code == 302, response.content.decode()[:2000]
    proxied.refresh_from_db()
    assert proxied.proxy == "http://maas:s3cret@squid.example:3129"


def test_a_new_proxy_password_replaces_the_old_one(admin_client, proxied):
    assert save_source(admin_client, proxied, proxy="http://maas:n3w@squid.example:3128").status_code == 302
    proxied.refresh_from_db()
    assert proxied.proxy == "http://maas:n3w@squid.example:3128"


def test_an_item_status_list_filters_the_failing_items(admin_client):
    now = timezone.now()
    common = dict(source_url="http://m/dists/", arch="amd64", kind="install", checked=now, outcome="unchanged")
    ItemState.objects.create(release="bookworm", **common)
    ItemState.objects.create(release="trixie", last_error="HTTP 404 for trixie", **{**common, "outcome": "failed"})
    listing = admin_client.get(reverse("admin:pxeimport_itemstate_changelist"), {"state": "failing"})
    assert listing.status_code == 200
    html = listing.content.decode()
    assert '<td class="field-release">trixie</td>' in html
    assert '<td class="field-release">bookworm</td>' not in html


def test_an_enabled_source_may_not_select_what_another_enabled_source_feeds(admin_client):
    """Issue 20, case 5: two enabled sources naming one (arch, release); the first by name won silently."""
    assert save_source(admin_client, name="old-mirror").status_code == 302

    response = save_source(admin_client, name="new-mirror", url="http://new.example.org/debian/dists/")

    assert response.status_code == 200
    assert "amd64/bookworm is already selected by the enabled boot source &#x27;old-mirror&#x27;" in (
        response.content.decode()
    )
    assert not BootSource.objects.filter(name="new-mirror").exists()


def test_a_second_source_for_the_same_place_may_be_saved_disabled_or_for_other_releases(admin_client):
    assert save_source(admin_client, name="old-mirror").status_code == 302
    disabled = {"enabled": ""}
    assert save_source(admin_client, name="new-mirror", url="http://new.example.org/d/", **disabled).status_code == 302
    other = {"releases-0-name": "trixie"}
    assert save_source(admin_client, name="trixie-mirror", url="http://t.example.org/d/", **other).status_code == 302


def test_one_enabled_source_per_arch_feeds_its_loaders_and_the_choice_is_explicit(admin_client):
    BootSource.objects.update(enabled=False)  # the fresh database's Ubuntu source feeds amd64's loaders too
    assert save_source(admin_client, name="debian", feeds_loaders="on").status_code == 302

    refused = save_source(
        admin_client, name="other", url="http://o.example.org/d/", feeds_loaders="on", **{"releases-0-name": "trixie"}
    )

    assert refused.status_code == 200
    assert "amd64&#x27;s pre-boot loaders are already fed by the enabled boot source &#x27;debian&#x27;" in (
        refused.content.decode()
    )
    kept_out = {"releases-0-name": "trixie"}  # the box unticked: its kernels boot through debian's loaders
    assert save_source(admin_client, name="other", url="http://o.example.org/d/", **kept_out).status_code == 302
    assert not BootSource.objects.get(name="other").feeds_loaders


def test_a_keyring_gpgv_cannot_use_is_refused_saying_why(admin_client, tmp_path, signer):
    armored = tmp_path / "Release.key"
    armored.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n")
    for bad, said in (
        (tmp_path / "missing.gpg", "keyring file not found"),
        (tmp_path, "is a directory, not a keyring file"),
        (armored, "is an ASCII-armored key"),
    ):
        response = save_source(admin_client, keyring=str(bad))
        assert response.status_code == 200 and said in response.content.decode()
    assert not BootSource.objects.filter(name="debian").exists()
    assert save_source(admin_client, keyring=str(signer.keyring)).status_code == 302


@pytest.mark.parametrize(
    ("releases", "level", "says"),
    [
        (("bookworm",), "success", "Boot source &#x27;mirror&#x27; checked: "),
        (("forky",), "error", "not usable as it is (exit 1): amd64/forky install failed"),
    ],
)
def test_check_source_reads_the_signed_indexes_and_says_what_a_run_would_do(
    admin_client, archive, archive_server, signer, tftp_root, settings, releases, level, says
):
    settings.PXEIMPORT_TFTPROOT = tftp_root
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    source = saved_source(archive_server.url + "dists/", signer.keyring, releases=releases)
    source.distribution = "debian"
    source.save()
    form = {"action": "check_source", "_selected_action": [source.pk]}
    page = admin_client.post(reverse("admin:pxeimport_bootsource_changelist"), form, follow=True).content.decode()
    assert f'class="{level}"' in page and says in page, page[page.find("messagelist") :][:1500]
    assert not tftp_root.exists()  # a dry run: nothing written


def test_an_opensuse_source_checks_its_releases_and_its_package_repository_before_it_is_saved(admin_client, signer):
    suse = {"name": "leap", "layout": "opensuse-iso", "distribution": "other", "keyring": str(signer.keyring)}
    suse |= {"installer_dir": "", "current_release": "15.6", "releases-0-name": "15.6"}

    templated = save_source(admin_client, url="http://m.example.org/distribution/leap/{release}/iso/", **suse)
    leap16 = save_source(admin_client, url="http://m.example.org/", **suse | {"releases-0-name": "16.0"})
    ftp = save_source(admin_client, url="http://m.example.org/", package_repo="ftp://m.example.org/oss/", **suse)
    per_arch = save_source(
        admin_client, url="http://m.example.org/", arch_urls="amd64 http://a.example.org/{release}/", **suse
    )

    # Found by a walk: saved, and every run then failed saying to set it.
    assert "cannot tell where the release&#x27;s packages are: set its package repository URL" in templated.text
    assert "cannot tell where the release&#x27;s packages are" in per_arch.text
    assert "Leap 16 installs with Agama" in leap16.text
    assert "The package repository URL must start with http:// or https://." in ftp.text
    assert not BootSource.objects.filter(name="leap").exists()
    saved = save_source(admin_client, url="http://m.example.org/", **suse)
    assert saved.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", saved.text, re.S)
