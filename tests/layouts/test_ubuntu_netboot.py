"""Ubuntu's current netboot layout: signed SHA256SUMS, a point-release tarball, the ISO fetched at boot."""

from __future__ import annotations

import io
import os
import re
import tarfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.extraction.tarball import TarballError, extract
from pxeimport.layouts import LayoutError, ubuntu_netboot
from pxeimport.models import BootSource, InstalledFile
from tests.support.commands import CommandResult
from tests.support.tree import base, install_dir
from tools.ubuntu_archive import UbuntuNetbootTree, ubuntu_files

pytestmark = pytest.mark.django_db
ARGS = ("--arch", "amd64", "--release", "noble", "--current-release", "noble")


@pytest.fixture
def ubuntu(tmp_path, signer, archive_server) -> UbuntuNetbootTree:
    # archive_server serves tmp_path/"archive"; the Ubuntu tree goes there.
    return UbuntuNetbootTree(tmp_path / "archive", signer=signer)


@pytest.fixture
def import_ubuntu(archive_server, tftp_root, signer):
    def run(*args: str, verbosity: int = 1) -> CommandResult:
        out, err = StringIO(), StringIO()
        argv = ["--layout", "ubuntu-netboot", "--archive", archive_server.url, "--tftproot", str(tftp_root)]
        try:
            call_command(
                "import_pxe_files",
                *argv,
                "--keyring",
                str(signer.keyring),
                *args,
                verbosity=verbosity,
                stdout=out,
                stderr=err,
            )
            return CommandResult(0, out.getvalue(), err.getvalue())
        except CommandError as exc:
            return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))

    return run


SUMS = """\
{h}  *ubuntu-24.04.3-live-server-amd64.iso
{h}  *ubuntu-24.04.4-live-server-amd64.iso
{h}  *ubuntu-24.04.4-netboot-amd64.tar.gz
{h}  *ubuntu-24.04.4-live-server-arm64.iso
""".format(h="a" * 64).replace("  *", " *")


def test_the_newest_point_release_and_its_tarball_are_chosen():
    offer = ubuntu_netboot.parse_index(SUMS, url="https://releases.example/noble/", arch="amd64")
    assert offer.version == "24.04.4"
    assert offer.tarball.url == "https://releases.example/noble/ubuntu-24.04.4-netboot-amd64.tar.gz"
    assert offer.iso_url() == "https://releases.example/noble/ubuntu-24.04.4-live-server-amd64.iso"
    assert offer.iso_url("http://mirror.lan/isos") == "http://mirror.lan/isos/ubuntu-24.04.4-live-server-amd64.iso"
    assert "root=/dev/ram0" in offer.boot_options() and "ip=dhcp" in offer.boot_options()


def test_a_release_whose_tarball_is_not_in_the_signed_sums_is_refused():
    with pytest.raises(LayoutError, match=re.escape("not ubuntu-24.04.4-netboot-arm64.tar.gz")):
        ubuntu_netboot.parse_index(SUMS, url="https://releases.example/noble/", arch="arm64")


def test_a_release_without_a_live_server_iso_is_a_layout_error():
    with pytest.raises(LayoutError, match="no live-server ISO for amd64"):
        ubuntu_netboot.parse_index("", url="https://releases.example/jammy/", arch="amd64")


def make_tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as out:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            out.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_wanted_members_are_extracted_as_regular_files_with_their_hashes(tmp_path):
    tar = make_tarball(tmp_path / "t.tar.gz", [(member("./amd64/linux"), b"kernel"), (member("./amd64/x"), b"x")])
    (tmp_path / "out").mkdir()
    got = extract(tar, {"linux": "amd64/linux"}, tmp_path / "out", max_bytes=1 << 20)
    assert (tmp_path / "out" / "linux").read_bytes() == b"kernel"
    assert got["linux"].size == 6
    assert not (tmp_path / "out" / "x").exists()


@pytest.mark.parametrize(
    ("evil", "message"),
    [
        (member("/etc/passwd"), "absolute"),
        (member("./amd64/../../evil"), "'..'"),
        (member("./amd64/linux", tarfile.SYMTYPE, "/etc/shadow"), "not a regular file"),
        (member("./amd64/linux", tarfile.CHRTYPE), "not a regular file"),
    ],
)
def test_hostile_members_are_refused_and_nothing_escapes(tmp_path, evil, message):
    tar = make_tarball(tmp_path / "evil.tar.gz", [(evil, b"payload"), (member("./amd64/initrd"), b"i")])
    (tmp_path / "out").mkdir()
    with pytest.raises(TarballError, match=message):
        extract(tar, {"linux": "amd64/linux", "initrd": "amd64/initrd"}, tmp_path / "out", max_bytes=1 << 20)
    assert not (tmp_path / "evil").exists()


def test_a_missing_member_is_named(tmp_path):
    tar = make_tarball(tmp_path / "t.tar.gz", [(member("./amd64/linux"), b"kernel")])
    (tmp_path / "out").mkdir()
    with pytest.raises(TarballError, match="lacks amd64/initrd"):
        extract(tar, {"linux": "amd64/linux", "initrd": "amd64/initrd"}, tmp_path / "out", max_bytes=1 << 20)


def test_a_truncated_tarball_is_a_tarball_error(tmp_path):
    tar = make_tarball(tmp_path / "t.tar.gz", [(member("./amd64/linux"), os.urandom(200_000))])
    tar.write_bytes(tar.read_bytes()[:5000])
    (tmp_path / "out").mkdir()
    with pytest.raises(TarballError, match="not a readable tarball"):
        extract(tar, {"linux": "amd64/linux"}, tmp_path / "out", max_bytes=1 << 20)


def test_an_import_installs_kernel_initrd_loaders_and_a_menu_that_fetches_the_iso(
    ubuntu, import_ubuntu, tftp_root, archive_server
):
    files = ubuntu_files("24.04.4")
    ubuntu.publish("noble", "24.04.4", "amd64", files)

    result = import_ubuntu(*ARGS)

    assert result.code == 0, result.stderr
    install = install_dir(tftp_root, "amd64", "noble")
    assert (install / "linux").read_bytes() == files["linux"]
    assert (install / "initrd").read_bytes() == files["initrd"]
    for loader in ("pxelinux.0", "ldlinux.c32", "bootx64.efi", "grubx64.efi"):
        assert (base(tftp_root, "amd64") / loader).read_bytes() == files[loader]
    menu = (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    iso = f"{archive_server.url}noble/ubuntu-24.04.4-live-server-amd64.iso"
    assert f"initrd=noble/{os.readlink(install)}/initrd root=/dev/ram0" in menu
    assert f"iso-url={iso}" in menu and "ip=dhcp" in menu
    grub = (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text()
    assert f"iso-url={iso}" in grub
    kernel = InstalledFile.objects.get(name="linux")
    assert kernel.url.endswith("ubuntu-24.04.4-netboot-amd64.tar.gz#amd64/linux")
    assert kernel.signed_by


def test_an_unchanged_release_downloads_no_tarball(ubuntu, import_ubuntu, archive_server):
    ubuntu.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"))
    assert import_ubuntu(*ARGS).code == 0
    archive_server.clear_requests()

    result = import_ubuntu(*ARGS)

    assert result.code == 0 and "0 installed" in result.stdout
    assert sorted(r.path.rsplit("/", 1)[1] for r in archive_server.requests) == ["SHA256SUMS", "SHA256SUMS.gpg"]


def test_a_point_release_upstream_is_picked_up_as_a_new_version(ubuntu, import_ubuntu, tftp_root):
    ubuntu.publish("noble", "24.04.3", "amd64", ubuntu_files("24.04.3"))
    assert import_ubuntu(*ARGS).code == 0
    before = os.readlink(install_dir(tftp_root, "amd64", "noble"))
    ubuntu.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"))

    result = import_ubuntu(*ARGS)

    assert result.code == 0, result.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "noble")) != before
    assert (install_dir(tftp_root, "amd64", "noble") / "linux").read_bytes() == ubuntu_files("24.04.4")["linux"]
    assert "ubuntu-24.04.4-live-server-amd64.iso" in (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()


def test_a_tarball_missing_from_the_signed_sums_is_refused_and_nothing_installed(ubuntu, import_ubuntu, tftp_root):
    ubuntu.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"), list_tarball=False)
    result = import_ubuntu(*ARGS)
    assert result.code == 1
    assert "signed checksum" in result.stderr
    assert not install_dir(tftp_root, "amd64", "noble").exists()


def test_a_tampered_sha256sums_is_refused(ubuntu, import_ubuntu, tftp_root):
    directory = ubuntu.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"))
    sums = directory / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("24.04.4-live", "24.04.9-live"))
    result = import_ubuntu(*ARGS)
    assert result.code == 1
    assert "BAD signature" in result.stderr


def test_a_hostile_tarball_installs_nothing(ubuntu, import_ubuntu, tftp_root):
    evil = member("./amd64/../../../etc/cron.d/evil")
    evil.size = 3
    ubuntu.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"), extra_members=[evil])
    result = import_ubuntu(*ARGS)
    assert result.code == 1
    assert "climbs out" in result.stderr
    assert not install_dir(tftp_root, "amd64", "noble").exists()


def test_the_iso_url_can_point_at_a_local_mirror(ubuntu, archive_server, tftp_root, signer):
    ubuntu.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"))
    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="ubuntu",
        url=archive_server.url,
        layout="ubuntu-netboot",
        keyring=str(signer.keyring),
        iso_base_url="http://mirror.lan/ubuntu-isos/",
        current_release="noble",
    )
    source.arches.create(name="amd64")
    source.releases.create(name="noble")

    call_command("import_pxe_files", "--tftproot", str(tftp_root), verbosity=0)

    menu = (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    assert "iso-url=http://mirror.lan/ubuntu-isos/ubuntu-24.04.4-live-server-amd64.iso" in menu
