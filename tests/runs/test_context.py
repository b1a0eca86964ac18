"""Building a run from options and settings (pxeimport.runs.context): what is refused before any request or write."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxeimport.runs import ConfigError, RunOptions, build
from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer

pytestmark = pytest.mark.django_db

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def test_kernel_options_too_long_for_pxelinux_are_refused_before_any_request_or_write(
    archive: ArchiveTree, archive_server: ArchiveServer, import_pxe, tftp_root: Path
):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    result = import_pxe(*ARGS, "--kernel-opts", "console=ttyS0 " + "x" * 2000)
    assert result.code == 2
    assert "pxelinux hands the kernel at most" in result.stderr and "shorten the options by" in result.stderr
    assert archive_server.requests == [] and not tftp_root.exists()


def test_kernel_options_that_fit_are_kept_as_given(archive: ArchiveTree, import_pxe, tftp_root: Path):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    assert import_pxe(*ARGS, "--kernel-opts", "console=ttyS0,115200").code == 0
    menu = (tftp_root / "maas/amd64/base/pxelinux.cfg/default").read_text()
    assert "console=ttyS0,115200" in menu


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (RunOptions(archive="ftp://mirror.example.org/debian/dists/"), "only http:// and https://"),
        (
            RunOptions(archive="http://mirror.example.org/debian/dists/", releases=["bookworm"], jobs=-1),
            "--jobs -1: must be at least 1",
        ),
        (RunOptions(archive="http://mirror.example.org/", releases=["bookworm"], arches=["../etc"]), "architecture"),
        (
            RunOptions(archive="http://mirror.example.org/", releases=["bookworm"], kernel_opts="initrd=/evil"),
            "initrd=",
        ),
    ],
)
def test_bad_options_are_a_configuration_error_saying_what_to_fix(options: RunOptions, says: str):
    with pytest.raises(ConfigError) as caught:
        build(options)
    assert says in str(caught.value)


def test_a_source_with_signature_checks_off_is_warned_about_in_the_context():
    from pxeimport.models import BootSource

    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="lab", url="http://mirror.example.org/debian/dists/", distribution="debian", skip_signature_checks=True
    )
    source.releases.create(name="bookworm")
    run = build(RunOptions(tftproot=Path("/srv/tftp")))
    assert [w for w in run.warnings if "signature checks are off for boot source 'lab'" in w]
    run.fetcher.close()


LOADERS = "http://archive.example.org/ubuntu/dists/"


@pytest.mark.parametrize(
    ("options", "names"),
    [
        (("--layout", "ubuntu-iso", "--release", "noble"), "--loader-archive"),
        (("--loader-archive", LOADERS, *ARGS), "--loader-archive"),
        (("--layout", "ubuntu-netboot", "--loader-archive", LOADERS, "--release", "noble"), "--loader-archive"),
        (("--layout", "region", "--release", "bookworm"), "--arch"),
        (("--layout", "region", "--arch", "amd64"), "--release"),
        (("--jobs", "0", *ARGS), "--jobs 0"),
    ],
)
def test_options_that_cannot_work_together_are_a_usage_error_naming_the_option_before_any_request(
    archive_server: ArchiveServer, import_pxe, tftp_root: Path, options: tuple[str, ...], names: str
):
    result = import_pxe(*options)
    assert result.code == 2, result.stderr
    assert names in result.stderr
    assert archive_server.requests == [] and not tftp_root.exists()


def saved_source(layout: str) -> None:
    from pxeimport.models import BootSource

    BootSource.objects.all().delete()
    source = BootSource.objects.create(name="lab", url="http://mirror.example.org/debian/dists/", layout=layout)
    source.releases.create(name="bookworm")


@pytest.mark.parametrize(
    ("options", "names"),
    [
        (("--layout", "ubuntu-iso"), "--layout ubuntu-iso goes with --archive only"),
        (("--loader-archive", LOADERS), "--loader-archive is read by the ubuntu-iso layout only"),
    ],
)
def test_options_the_saved_sources_would_ignore_are_a_usage_error_naming_the_option(
    tftp_root: Path, options: tuple[str, ...], names: str
):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    saved_source("debian-installer")
    with pytest.raises(CommandError) as caught:
        call_command("import_pxe_files", "--tftproot", str(tftp_root), *options, stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2
    assert names in str(caught.value)
    assert not tftp_root.exists()


def test_a_loader_archive_for_saved_ubuntu_iso_sources_is_taken():
    saved_source("ubuntu-iso")
    run = build(RunOptions(tftproot=Path("/srv/tftp"), loader_archive=LOADERS, arches=["amd64"]))
    assert {s.source.loader_archive for s in run.selections} == {LOADERS}
    run.fetcher.close()
