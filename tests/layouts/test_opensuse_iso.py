"""The opensuse-iso layout: Leap 15 and Tumbleweed ISO directories in their real shapes (stand-in NET ISOs made
with xorriso, each with its <iso>.sha256 and a detached .sha256.asc by a throwaway key), served on loopback
with index pages; the installation system kept in the HTTP root and named by instsys=, the packages by install=."""

from __future__ import annotations

import hashlib
import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.admin.sources import fits_layout
from pxeimport.items import Item, ItemKind, Source
from pxeimport.layouts import LayoutError, NotOffered, OpensuseIso
from pxeimport.layouts.anaconda_iso import repository
from pxeimport.layouts.opensuse_iso import check_instsys, iso_dir, newest_net_iso, package_repository, title
from pxeimport.layouts.region import _rebased
from pxeimport.models import BootSource, InstalledFile, SelectedArch, SelectedRelease
from pxeimport.tftproot import HttpRoot
from pxeimport.trust import parse_sha256sums
from tests.support.commands import CommandResult
from tests.support.requirements import require_tool
from tests.support.tree import base, install_dir
from tests.support.ubuntu_iso import HTTP_URL, http_root  # noqa: F401 (a fixture)
from tools.faultserver import FaultServer
from tools.opensuse_iso import CONFIG, IsoDirectory, net_iso
from tools.signing import ArchiveSigner

# Tests name the imported fixture as a parameter: that is how pytest hands it over, not a redefinition.
# ruff: noqa: F811

pytestmark = pytest.mark.django_db

LEAP = "distribution/leap/15.6/iso"
B1 = "openSUSE-Leap-15.6-NET-x86_64-Build710.3-Media.iso"
B2 = "openSUSE-Leap-15.6-NET-x86_64-Build711.1-Media.iso"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The layout's own logic --------------------------------------------------------------------


def test_the_newest_build_of_the_arch_is_chosen_and_the_alias_only_when_no_build_is_listed():
    names = [
        B1,
        "openSUSE-Leap-15.6-NET-x86_64-Build99.1-Media.iso",
        B2,
        B2 + ".sha256",
        "openSUSE-Leap-15.6-NET-x86_64-Media.iso",
    ]
    names += [
        "openSUSE-Leap-15.6-NET-aarch64-Build712.1-Media.iso",
        "openSUSE-Leap-15.6-DVD-x86_64-Build711.1-Media.iso",
    ]

    assert newest_net_iso(names, "15.6", "amd64", "d/") == ("711.1", B2)
    assert newest_net_iso(["openSUSE-Leap-15.6-NET-x86_64-Media.iso"], "15.6", "amd64", "d/") == (
        "", "openSUSE-Leap-15.6-NET-x86_64-Media.iso",
    )  # fmt: skip
    tumbleweed = [
        "openSUSE-Tumbleweed-NET-x86_64-Snapshot20241130-Media.iso",
        "openSUSE-Tumbleweed-NET-x86_64-Current.iso",
    ]
    tumbleweed += ["openSUSE-Tumbleweed-NET-x86_64-Snapshot20241201-Media.iso"]
    assert newest_net_iso(tumbleweed, "tumbleweed", "amd64", "d/")[0] == "20241201"


def test_a_directory_with_no_net_iso_for_the_arch_says_which_arches_it_has():
    with pytest.raises(NotOffered) as caught:
        newest_net_iso(["openSUSE-Leap-15.6-NET-aarch64-Build712.1-Media.iso"], "15.6", "amd64", "https://m/iso/")

    assert (
        str(caught.value) == "https://m/iso/ lists no openSUSE Leap 15.6 NET ISO for amd64; it lists NET ISOs for arm64"
    )


def test_leap_16_and_names_that_are_no_release_are_refused_saying_what_is_imported():
    assert "Leap 16 installs with Agama" in OpensuseIso.release_problem("16.0")
    assert OpensuseIso.release_problem("15.6") == "" and OpensuseIso.release_problem("tumbleweed") == ""
    imported = "opensuse-iso imports Leap 15 (releases named as the ISOs name them: 15.6) and Tumbleweed (tumbleweed)"
    assert fits_layout("opensuse-iso", ["amd64"], ["15.6", "leap", "Tumbleweed", "bad/name"], "/k.gpg") == [
        f"{imported}, not 'leap'",  # the Agama clause is for Leap 16 only (found by a walk)
        f"{imported}: write tumbleweed in lower case, not 'Tumbleweed'",
    ]


def test_the_iso_dir_and_the_package_repository_follow_the_mirror_tree_or_the_source_templates():
    mirror = Source("suse", "https://mirror.example.org/opensuse/")
    assert iso_dir(mirror, "amd64", "15.6") == "https://mirror.example.org/opensuse/distribution/leap/15.6/iso/"
    assert iso_dir(mirror, "arm64", "tumbleweed") == "https://mirror.example.org/opensuse/ports/aarch64/tumbleweed/iso/"
    assert (
        package_repository(mirror, "amd64", "tumbleweed") == "https://mirror.example.org/opensuse/tumbleweed/repo/oss/"
    )
    assert package_repository(mirror, "amd64", "15.6") == (
        "https://mirror.example.org/opensuse/distribution/leap/15.6/repo/oss/"
    )
    local = Source(
        "suse", "https://m.example.org/{release}/{basearch}/", package_repo="https://p.example.org/{release}/"
    )
    assert iso_dir(local, "arm64", "15.6") == "https://m.example.org/15.6/aarch64/"
    assert package_repository(local, "arm64", "15.6") == "https://p.example.org/15.6/"
    with pytest.raises(LayoutError, match="set its package repository"):
        package_repository(Source("suse", "https://m.example.org/{release}/"), "amd64", "15.6")


def test_menu_titles_say_the_distribution_release_and_build():
    assert title("15.6", "710.3") == "openSUSE Leap 15.6 Build710.3"
    assert title("15.6", "") == "openSUSE Leap 15.6"
    assert title("tumbleweed", "20241201") == "openSUSE Tumbleweed 20241201"


def test_a_checksum_file_in_its_published_shape_parses():
    # The shape sha256sum writes, as openSUSE's <iso>.sha256 holds it: one line, two blanks, the ISO's name.
    line = f"{'0a' * 32}  openSUSE-Leap-15.6-NET-x86_64-Media.iso\n"
    assert parse_sha256sums(line) == {"openSUSE-Leap-15.6-NET-x86_64-Media.iso": "0a" * 32}


def members(tmp_path: Path, config: str = CONFIG, sums: str = "") -> dict[str, Path]:
    files = {}
    for name, content in {"config": config, "linux": "k", "CHECKSUMS": sums}.items():
        files[name] = tmp_path / name
        files[name].write_text(content)
    return files


def test_an_installation_system_that_needs_a_part_not_kept_is_refused(tmp_path):
    files = members(tmp_path, config="root: common root bind newpart ?optional\n")

    with pytest.raises(LayoutError) as caught:
        check_instsys("https://m/x.iso", "x86_64", files, {})

    assert "x.iso#boot/x86_64/config needs newpart for the installation system" in str(caught.value)
    with pytest.raises(LayoutError, match="no 'root:' line"):
        check_instsys("https://m/x.iso", "x86_64", members(tmp_path, config="rescue: common\n"), {})


def test_checksums_in_the_iso_that_disagree_with_a_file_taken_are_refused(tmp_path):
    files = members(tmp_path, sums=f"{'1' * 64}  boot/x86_64/loader/linux\n{'2' * 64}  boot/x86_64/unrelated\n")

    with pytest.raises(
        LayoutError, match=f"lists boot/x86_64/loader/linux as {'1' * 64}, but the ISO holds {'3' * 64}"
    ):
        check_instsys("https://m/x.iso", "x86_64", files, {"linux": "3" * 64})
    check_instsys("https://m/x.iso", "x86_64", files, {"linux": "1" * 64})


def test_a_rack_names_its_own_copy_of_the_installation_system():
    region = "http://region.example.org/pxe/images/"
    path = "opensuse/15.6/0123456789abcdef/boot/x86_64/root"
    options = f"instsys={region}{path} install=https://download.example.org/repo/oss/ netsetup=dhcp"

    rebased = _rebased(options, region + path, path, lambda p: f"http://rack.example.org/images/{p}")

    assert rebased.startswith(f"instsys=http://rack.example.org/images/{path} install=https://download.example.org/")


# End to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def isos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("xorriso")
    work = tmp_path_factory.mktemp("opensuse-isos")
    made = {key: net_iso(work / f"{key}.iso", f"{key} kernel\n".encode(), f"{key} initrd\n".encode(), label=key)
            for key in ("b1", "b2", "tw")}  # fmt: skip
    made["arm"] = net_iso(work / "arm.iso", b"arm kernel\n", b"arm initrd\n", basearch="aarch64", label="arm")
    made["newpart"] = net_iso(work / "np.iso", b"k\n", b"i\n", config="root: common root bind newpart\n", label="np")
    return made


def run(server: FaultServer, tftp_root: Path, signer: ArchiveSigner, release: str, *args: str, arch: str = "amd64"):
    out, err = StringIO(), StringIO()
    argv = ["--layout", "opensuse-iso", "--archive", server.url, "--tftproot", str(tftp_root)]
    argv += ["--keyring", str(signer.keyring), "--arch", arch, "--release", release, *args]
    try:
        call_command("import_pxe_files", *argv, stdout=out, stderr=err)
        return CommandResult(0, out.getvalue(), err.getvalue())
    except CommandError as exc:
        return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))


def test_a_leap_import_serves_kernel_and_initrd_and_keeps_the_installation_system_for_nodes(
    server, upstream, isos, tftp_root, http_root, signer
):
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"])

    result = run(server, tftp_root, signer, "15.6")

    assert result.code == 0, result.stderr
    install = install_dir(tftp_root, "amd64", "15.6")
    assert (install / "linux").read_bytes() == b"b1 kernel\n" and (install / "initrd").read_bytes() == b"b1 initrd\n"
    instsys = f"opensuse/15.6/{sha256(isos['b1'].read_bytes())[:16]}/boot/x86_64"
    kept = http_root / "images" / instsys
    assert sorted(p.name for p in kept.iterdir()) == ["bind", "common", "config", "cracklib-dict-full.rpm", "root"]
    assert (kept / "root").read_bytes() == b"b1 root\n" * 100 == (install / "root").read_bytes()
    options = (
        f"instsys={HTTP_URL}/images/{instsys}/root install={server.url}distribution/leap/15.6/repo/oss/ netsetup=dhcp"
    )
    version = os.readlink(install)
    for menu in ("pxelinux.cfg/default", "grub/grub.cfg"):
        text = (base(tftp_root, "amd64") / menu).read_text()
        assert options in text, text
        assert f"15.6: openSUSE Leap 15.6 Build710.3 installer ({version})" in text
    [row] = InstalledFile.objects.filter(name="linux")
    assert row.sha256 == sha256(b"b1 kernel\n") and row.signed_by == signer.fingerprint


def test_an_unchanged_build_fetches_only_the_page_and_the_signed_checksum_file(
    server, upstream, isos, tftp_root, http_root, signer
):
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"])
    assert run(server, tftp_root, signer, "15.6").code == 0
    served = os.readlink(install_dir(tftp_root, "amd64", "15.6"))
    server.clear()

    again = run(server, tftp_root, signer, "15.6")

    assert again.code == 0, again.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "15.6")) == served
    assert sorted(r.path for r in server.requests) == [f"/{LEAP}/", f"/{LEAP}/{B1}.sha256", f"/{LEAP}/{B1}.sha256.asc"]


def test_a_new_build_is_a_new_version_and_a_replayed_older_build_is_refused_as_stale(
    server, upstream, isos, tftp_root, http_root, signer
):
    directory = IsoDirectory(upstream, LEAP, signer)
    directory.add(B1, isos["b1"])
    old_sums = (directory.path / (B1 + ".sha256")).read_bytes(), (directory.path / (B1 + ".sha256.asc")).read_bytes()
    assert run(server, tftp_root, signer, "15.6").code == 0
    signer.signing_time = int(time.time()) + 60  # signed later: newer (gpg dates signatures to the second)
    try:
        directory.add(B2, isos["b2"], listed_as="openSUSE-Leap-15.6-NET-x86_64-Media.iso")
    finally:
        signer.signing_time = None

    result = run(server, tftp_root, signer, "15.6")

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "15.6") / "linux").read_bytes() == b"b2 kernel\n"
    served = os.readlink(install_dir(tftp_root, "amd64", "15.6"))
    # A mirror (or a man in the middle) hides the new build: the old one's signed file is older than trusted.
    (directory.path / B2).unlink()
    (directory.path / (B1 + ".sha256")).write_bytes(old_sums[0])
    (directory.path / (B1 + ".sha256.asc")).write_bytes(old_sums[1])

    replayed = run(server, tftp_root, signer, "15.6")

    assert replayed.code != 0
    assert "older than the index already trusted" in replayed.stderr, replayed.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "15.6")) == served


def test_a_tampered_iso_is_refused_and_what_is_served_stays(server, upstream, isos, tftp_root, http_root, signer):
    directory = IsoDirectory(upstream, LEAP, signer)
    directory.add(B1, isos["b1"])
    assert run(server, tftp_root, signer, "15.6").code == 0
    served = os.readlink(install_dir(tftp_root, "amd64", "15.6"))
    tampered = directory.add(B2, isos["b2"])
    data = bytearray(tampered.read_bytes())
    data[40000] ^= 0xFF
    tampered.write_bytes(bytes(data))

    dry = run(server, tftp_root, signer, "15.6", "--dry-run")
    result = run(server, tftp_root, signer, "15.6")

    assert "damaged" not in dry.stdout + dry.stderr, dry.stdout + dry.stderr
    assert result.code != 0
    assert B2 in result.stderr and "SHA-256" in result.stderr, result.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "15.6")) == served
    # Nothing was kept at the refused ISO's path in the HTTP root (found by a walk: the served build's files were).
    assert not (http_root / "images" / "opensuse" / "15.6" / sha256(tampered.read_bytes())[:16]).exists()


def test_an_unsigned_checksum_file_is_refused_and_one_signed_by_another_key_too(
    server, upstream, isos, tftp_root, http_root, signer, tmp_path
):
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"], style="unsigned")

    unsigned = run(server, tftp_root, signer, "15.6")

    assert unsigned.code != 0
    assert f"unsigned: not clearsigned and no {B1}.sha256.asc beside it" in unsigned.stderr, unsigned.stderr
    IsoDirectory(upstream, LEAP, ArchiveSigner(tmp_path / "stranger")).add(B1, isos["b1"])

    stranger = run(server, tftp_root, signer, "15.6")

    assert stranger.code != 0 and f"{B1}.sha256" in stranger.stderr, stranger.stderr
    assert not install_dir(tftp_root, "amd64", "15.6").exists()
    assert not any(r.path.endswith(".iso") for r in server.requests)


def test_a_clearsigned_checksum_file_of_an_older_build_is_read_too(
    server, upstream, isos, tftp_root, http_root, signer
):
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"], style="clearsigned")

    result = run(server, tftp_root, signer, "15.6")

    assert result.code == 0, result.stderr


def test_tumbleweed_for_arm64_comes_from_the_ports_tree_with_the_kernel_beside_the_installation_system(
    server, upstream, isos, tftp_root, http_root, signer
):
    name = "openSUSE-Tumbleweed-NET-aarch64-Snapshot20241201-Media.iso"
    IsoDirectory(upstream, "ports/aarch64/tumbleweed/iso", signer).add(name, isos["arm"])

    result = run(server, tftp_root, signer, "tumbleweed", arch="arm64")

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "arm64", "tumbleweed") / "linux").read_bytes() == b"arm kernel\n"
    grub = (base(tftp_root, "arm64") / "grub" / "grub.cfg").read_text()
    assert f"install={server.url}ports/aarch64/tumbleweed/repo/oss/ netsetup=dhcp" in grub
    assert "openSUSE Tumbleweed 20241201 installer" in grub and "/boot/aarch64/root " in grub


def test_an_iso_whose_installation_system_needs_a_part_not_kept_is_refused_and_what_is_served_stays(
    server, upstream, isos, tftp_root, http_root, signer
):
    directory = IsoDirectory(upstream, LEAP, signer)
    directory.add(B1, isos["b1"])
    assert run(server, tftp_root, signer, "15.6").code == 0
    served = os.readlink(install_dir(tftp_root, "amd64", "15.6"))
    directory.add(B2, isos["newpart"])

    result = run(server, tftp_root, signer, "15.6")

    assert result.code != 0
    assert f"{B2}#boot/x86_64/config needs newpart for the installation system" in result.stderr, result.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "15.6")) == served
    # Nothing of the refused ISO is kept for nodes (found by a walk: its parts were, until the grace period).
    assert not (http_root / "images" / "opensuse" / "15.6" / sha256(isos["newpart"].read_bytes())[:16]).exists()


def test_leap_16_on_the_command_line_is_refused_naming_agama(server, tftp_root, http_root, signer):
    result = run(server, tftp_root, signer, "16.0")

    capital = run(server, tftp_root, signer, "Tumbleweed")

    assert result.code == 2  # a selection to fix
    assert "Leap 16 installs with Agama" in result.stderr, result.stderr
    assert capital.code == 2 and "write tumbleweed in lower case" in capital.stderr, capital.stderr  # a walk
    assert not server.requests


def test_a_saved_source_names_its_package_repository_and_an_anaconda_one_passes_it_as_inst_repo(
    server, upstream, isos, tftp_root, http_root, signer
):
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"])
    BootSource.objects.update(enabled=False)
    source = BootSource.objects.create(
        name="leap", url=server.url, layout="opensuse-iso", distribution="other", keyring=str(signer.keyring),
        current_release="15.6", package_repo="http://packages.example.org/leap/{release}/{basearch}/",
    )  # fmt: skip
    SelectedArch.objects.create(source=source, name="amd64")
    SelectedRelease.objects.create(source=source, name="15.6")
    out, err = StringIO(), StringIO()

    call_command("import_pxe_files", "--tftproot", str(tftp_root), stdout=out, stderr=err)

    grub = (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text()
    assert "install=http://packages.example.org/leap/15.6/x86_64/ netsetup=dhcp" in grub, err.getvalue()
    alma = Source(
        "alma", "https://repo.example.org/almalinux/", package_repo="https://r.example.org/{release}/{basearch}"
    )
    assert repository(Item(alma, "arm64", "9", ItemKind.INSTALL)) == " inst.repo=https://r.example.org/9/aarch64"
    assert repository(Item(Source("alma", "https://repo.example.org/almalinux/"), "amd64", "9", ItemKind.INSTALL)) == ""


def test_without_an_http_root_the_run_says_the_installation_system_needs_one(server, upstream, isos, tftp_root, signer):
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"])

    result = run(server, tftp_root, signer, "15.6")

    assert result.code != 0
    assert "PXEIMPORT_HTTP_ROOT" in result.stderr and "installation system" in result.stderr, result.stderr
    assert not any(r.path.endswith(".iso") for r in server.requests)


def test_an_instsys_url_keeps_every_part_beside_it_in_the_http_root(tmp_path):
    http = HttpRoot(tmp_path / "http", HTTP_URL, grace_seconds=0)
    source = tmp_path / "part"
    source.write_bytes(b"part")
    for tree in ("0123456789abcdef", "fedcba9876543210"):
        for part in ("config", "root", "common"):
            http.publish(f"opensuse/15.6/{tree}/boot/x86_64/{part}", source)
    options = f"instsys={HTTP_URL}/images/opensuse/15.6/0123456789abcdef/boot/x86_64/root install=x netsetup=dhcp"

    named = http.named([options])

    assert named == {f"opensuse/15.6/0123456789abcdef/boot/x86_64/{part}" for part in ("config", "root", "common")}
    removed = http.collect_garbage(named, now=1e12)
    assert sorted(p.name for p in removed) == ["common", "config", "root"]
    assert all(p.parent.parent.parent.name == "fedcba9876543210" for p in removed)


def test_a_release_retired_in_its_grace_period_is_not_named_as_served_without_a_loader(
    server, upstream, isos, tftp_root, http_root, signer, settings
):
    settings.PXEIMPORT_GRACE_SECONDS = 3600
    IsoDirectory(upstream, LEAP, signer).add(B1, isos["b1"])
    IsoDirectory(upstream, "tumbleweed/iso", signer).add("openSUSE-Tumbleweed-NET-x86_64-Current.iso", isos["tw"])
    BootSource.objects.update(enabled=False)
    source = BootSource.objects.create(
        name="suse", url=server.url, layout="opensuse-iso", distribution="other", keyring=str(signer.keyring),
        current_release="15.6",
    )  # fmt: skip
    SelectedArch.objects.create(source=source, name="amd64")
    for release in ("15.6", "tumbleweed"):
        SelectedRelease.objects.create(source=source, name=release)
    call_command("import_pxe_files", "--tftproot", str(tftp_root), stdout=StringIO(), stderr=StringIO())
    SelectedRelease.objects.filter(name="tumbleweed").delete()
    err = StringIO()

    call_command("import_pxe_files", "--tftproot", str(tftp_root), stdout=StringIO(), stderr=err)

    assert "amd64 serves 15.6 but no pre-boot loader" in err.getvalue(), err.getvalue()
    assert (base(tftp_root, "amd64") / "tumbleweed").is_dir()  # retired, kept for its grace period
