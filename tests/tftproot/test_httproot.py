"""The pieces under the ubuntu-iso layout: containers by kind, the HTTP root, per-arch URLs, the migration."""

from __future__ import annotations

import os
import time
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from pxeimport.extraction import IsoImageError
from pxeimport.importer import containers
from pxeimport.items import ArchUrls, Source, parse_arch_urls
from pxeimport.layouts import Container, LayoutError, RemoteFile, Wanted
from pxeimport.models import BootSource
from pxeimport.tftproot import HttpRoot, HttpRootError, tftp_texts
from tests.support.requirements import require_tool
from tools.iso import make_iso

URL = "http://boot.example.org/pxe"


def iso_container(*, optional: frozenset[str] = frozenset()) -> Container:
    members = {"linux": ("casper/vmlinuz",), "hwe-linux": ("casper/hwe-vmlinuz",)}
    return Container(RemoteFile("x.iso", "http://example.org/x.iso", "0" * 64), "iso", members, optional)


# Containers --------------------------------------------------------------------------------


def test_an_optional_member_the_iso_lacks_is_left_out_and_a_required_one_is_an_error(tmp_path):
    require_tool("xorriso")
    iso = make_iso(tmp_path / "x.iso", {"casper/vmlinuz": b"kernel\n"})
    out = tmp_path / "out"
    out.mkdir()

    got = containers.extract(iso_container(optional=frozenset({"hwe-linux"})), iso, out, max_bytes=1 << 20)

    assert sorted(got) == ["linux"] and (out / "linux").read_bytes() == b"kernel\n"
    with pytest.raises(IsoImageError, match="has none of casper/hwe-vmlinuz"):
        containers.extract(iso_container(), iso, tmp_path / "out2", max_bytes=1 << 20)


def test_a_container_of_an_unknown_kind_or_without_member_paths_is_refused():
    remote = RemoteFile("x", "http://example.org/x", "0" * 64)
    with pytest.raises(LayoutError, match="unknown container kind"):
        Container(remote, "zip", {"a": ("a",)})
    with pytest.raises(LayoutError, match="at least one path"):
        Container(remote, "iso", {"a": ()})


def test_the_identity_names_each_member_by_the_containers_hash_and_the_one_tarball_form_is_a_tar_container():
    tar = RemoteFile("t.tar.gz", "http://example.org/t.tar.gz", "a" * 64)
    short = Wanted(tarball=tar, members={"linux": "amd64/linux"})
    long = Wanted(containers=(Container(tar, "tar", {"linux": ("amd64/linux",)}),))
    assert short.identity == long.identity == {"linux": f"{'a' * 64}:amd64/linux"}
    assert short.origin("linux") == "http://example.org/t.tar.gz#amd64/linux"
    assert Wanted(containers=(iso_container(optional=frozenset({"hwe-linux"})),)).optional == {"hwe-linux"}


# The HTTP root -----------------------------------------------------------------------------


def test_a_published_file_appears_whole_at_its_url_and_is_linked_not_copied(tmp_path):
    source = tmp_path / "staged.iso"
    source.write_bytes(b"iso bytes")
    http = HttpRoot(tmp_path / "http", URL + "/", 3600)

    path = http.publish("ubuntu/noble/0123456789abcdef/x.iso", source)

    assert path.read_bytes() == b"iso bytes" and path.stat().st_ino == source.stat().st_ino
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert http.url_for("ubuntu/noble/0123456789abcdef/x.iso") == f"{URL}/images/ubuntu/noble/0123456789abcdef/x.iso"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("relative", ["../x.iso", "ubuntu//x.iso", "/etc/x", "ubuntu/Noble/x.iso", "a/../../b"])
def test_an_unsafe_path_below_the_http_root_is_refused(tmp_path, relative):
    with pytest.raises(HttpRootError):
        HttpRoot(tmp_path, URL, 0).url_for(relative)


def test_an_http_url_that_is_not_http_is_refused(tmp_path):
    with pytest.raises(HttpRootError, match="http"):
        HttpRoot(tmp_path, "ftp://example.org/", 0)


def test_a_file_no_text_names_goes_after_the_grace_period_and_a_named_one_stays(tmp_path):
    http = HttpRoot(tmp_path / "http", URL, 3600)
    for name in ("old", "new"):
        (tmp_path / name).write_bytes(name.encode())
        http.publish(f"ubuntu/noble/{name}/x.iso", tmp_path / name)
    (tmp_path / "mine.yaml").write_text("autoinstall")
    (tmp_path / "http" / "user-data").write_text("the operator's own file")
    menu = f"APPEND iso-url={URL}/images/ubuntu/noble/new/x.iso ip=dhcp\n"
    named = http.named([menu])
    assert named == {"ubuntu/noble/new/x.iso"}

    assert http.collect_garbage(named, now=time.time()) == []  # within the grace period
    removed = http.collect_garbage(named, now=time.time() + 3600)

    assert [p.relative_to(http.managed).as_posix() for p in removed] == ["ubuntu/noble/old/x.iso"]
    assert not (http.managed / "ubuntu" / "noble" / "old").exists()
    assert (http.managed / "ubuntu" / "noble" / "new" / "x.iso").is_file()
    assert (tmp_path / "http" / "user-data").is_file()


def test_the_tftp_texts_are_the_menus_and_the_version_dirs_boot_options(tmp_path):
    version = tmp_path / "amd64" / "base" / "noble" / "install-0123456789abcdef"
    version.mkdir(parents=True)
    (version / "boot-options").write_text("iso-url=a")
    (tmp_path / "amd64" / "base" / "pxelinux.cfg").mkdir()
    (tmp_path / "amd64" / "base" / "pxelinux.cfg" / "default").write_text("iso-url=b")
    (tmp_path / "amd64" / "base" / "noble" / "notes").write_text("iso-url=c")
    assert sorted(tftp_texts(tmp_path)) == ["iso-url=a", "iso-url=b"]


# Per-arch URLs -----------------------------------------------------------------------------


def test_an_arch_with_a_template_gets_its_own_release_dir_and_loader_archive():
    urls = parse_arch_urls(
        "\narm64 https://cdimage.ubuntu.com/releases/{release}/release/ http://ports.ubuntu.com/ubuntu-ports/dists/\n"
    )
    source = Source("s", "https://releases.ubuntu.com", arch_urls=urls, loader_archive="http://a.example/dists/")
    assert source.release_url("amd64", "noble") == "https://releases.ubuntu.com/noble/"
    assert source.release_url("arm64", "noble") == "https://cdimage.ubuntu.com/releases/noble/release/"
    assert source.loader_archive_for("arm64") == "http://ports.ubuntu.com/ubuntu-ports/dists/"
    assert source.loader_archive_for("amd64") == "http://a.example/dists/"
    assert Source("s", "u").arch_urls == ArchUrls()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arm64", "an architecture, a URL template"),
        ("arm64 https://cdimage.ubuntu.com/releases/noble/", "containing {release}"),
        ("arm64 ftp://x/{release}/", "containing {release}"),
        ("ARM64 https://x/{release}/", "invalid architecture"),
        ("arm64 https://x/{release}/\narm64 https://y/{release}/", "given twice"),
        ("arm64 https://x/{release}/ http://ports.example/ubuntu-ports/", "ending dists/"),
    ],
)
def test_bad_per_arch_urls_are_refused_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_arch_urls(text)


# The data migration ------------------------------------------------------------------------

MIGRATION = import_module("pxeimport.migrations.0012_ubuntu_iso")


def _netboot_default() -> BootSource:
    source = BootSource.objects.create(**MIGRATION.NETBOOT)
    source.arches.create(name="amd64")
    for release in MIGRATION.RELEASES:
        source.releases.create(name=release)
    return source


@pytest.mark.django_db
def test_an_unedited_netboot_default_moves_to_ubuntu_iso_and_an_edited_one_is_left_alone():
    BootSource.objects.all().delete()
    _netboot_default()
    MIGRATION.move_to_iso_source(django_apps, None)
    assert BootSource.objects.get(enabled=True).layout == "ubuntu-iso"

    BootSource.objects.all().delete()
    edited = _netboot_default()
    edited.releases.filter(name="noble").update(kernel_opts="console=ttyS0")
    MIGRATION.move_to_iso_source(django_apps, None)
    assert list(BootSource.objects.filter(enabled=True)) == [edited]

    BootSource.objects.all().delete()
    _netboot_default()
    BootSource.objects.filter(name="ubuntu-netboot").update(proxy="http://proxy.example:3128")
    MIGRATION.move_to_iso_source(django_apps, None)
    assert BootSource.objects.get(enabled=True).layout == "ubuntu-netboot"


def test_the_http_root_settings_come_in_pairs(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PXEIMPORT_HTTP_ROOT": str(tmp_path)}
    env.pop("PXEIMPORT_HTTP_URL", None)
    code = "import django; django.setup()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=Path.cwd())
    assert done.returncode != 0 and "PXEIMPORT_HTTP_ROOT and PXEIMPORT_HTTP_URL" in done.stderr
