"""The anaconda-iso layout: Fedora, AlmaLinux and Rocky Linux ISO directories in their real shapes (stand-in
boot ISOs made with xorriso, checksum lists clearsigned or with a detached .sig by a throwaway key), served
on loopback with index pages; the installer image kept in the HTTP root and named by inst.stage2."""

from __future__ import annotations

import hashlib
import os
import re
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.admin.sources import fits_layout
from pxeimport.items import Source
from pxeimport.layouts import AnacondaIso, LayoutError, NotOffered
from pxeimport.layouts.anaconda_iso import FAMILIES, check_treeinfo, checksum_list, newest_boot_iso, release_dir
from pxeimport.layouts.listing import listed_names
from pxeimport.layouts.region import _rebased
from pxeimport.models import BootSource, InstalledFile
from pxeimport.runs import Overrides, claimed_elsewhere, resolve
from pxeimport.tftproot import HttpRoot
from pxeimport.trust import parse_sha256sums
from tests.support.commands import CommandResult
from tests.support.nginx import boot_site, running_nginx
from tests.support.requirements import require_tool
from tests.support.tree import base, install_dir
from tests.support.ubuntu_iso import HTTP_URL, http_root  # noqa: F401 (a fixture)
from tests.support.web import free_port, wait_for
from tools.anaconda_iso import IsoDirectory, boot_iso, treeinfo
from tools.faultserver import FaultServer
from tools.iso import make_iso
from tools.signing import ArchiveSigner

# Tests name the imported fixture as a parameter: that is how pytest hands it over, not a redefinition.
# ruff: noqa: F811

pytestmark = pytest.mark.django_db

ALMA = "almalinux/9/isos/x86_64"
ROCKY = "rocky/9/isos/x86_64"
FEDORA = "fedora/linux/releases/41/Server/x86_64/iso"
FEDORA_TEMPLATE = "fedora/linux/releases/{release}/Server/{basearch}/iso/"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The layout's own logic --------------------------------------------------------------------


def test_an_index_page_gives_the_files_it_links_to_and_nothing_else():
    # The shapes of Apache's autoindex (sort links, a parent link, an icon table) and nginx's (<pre> links).
    apache = (
        '<table><tr><th><a href="?C=N;O=D">Name</a></th></tr>'
        '<tr><td><a href="/pub/fedora/linux/releases/41/Server/x86_64/">Parent Directory</a></td></tr>'
        '<tr><td><a href="Fedora-Server-41-1.4-x86_64-CHECKSUM">Fedora-Server-41-1.4-x86_64-CHECKSUM</a></td></tr>'
        '<tr><td><a href="Fedora-Server-netinst-x86_64-41-1.4.iso">x</a></td></tr></table>'
    )
    nginx = '<pre><a href="../">../</a>\n<a href="CHECKSUM">CHECKSUM</a>\n<a href="CHECKSUM.sig">CHECKSUM.sig</a>\n'
    nginx += '<a href="old/">old/</a>\n<a href="Rocky-9.5-x86_64-boot.iso">Rocky-9.5-x86_64-boot.iso</a>\n</pre>'

    assert listed_names(apache) == ["Fedora-Server-41-1.4-x86_64-CHECKSUM", "Fedora-Server-netinst-x86_64-41-1.4.iso"]
    assert listed_names(nginx) == ["CHECKSUM", "CHECKSUM.sig", "Rocky-9.5-x86_64-boot.iso"]
    assert listed_names('<a href="http://elsewhere.example.org/CHECKSUM">x</a><a href="a/../CHECKSUM">y</a>') == []


def test_the_checksum_list_is_the_newest_compose_then_checksum_then_sha256sum():
    fedora = ["Fedora-Server-41-1.4-x86_64-CHECKSUM", "Fedora-Server-41-1.10-x86_64-CHECKSUM", "x.iso"]
    assert checksum_list(fedora) == "Fedora-Server-41-1.10-x86_64-CHECKSUM"
    assert checksum_list(["SHA256SUM", "CHECKSUM", "CHECKSUM.sig"]) == "CHECKSUM"
    assert checksum_list(["SHA256SUM"]) == "SHA256SUM"
    assert checksum_list(["README", "CHECKSUM.sig"]) == ""
    # CentOS Stream: one list beside each ISO, the "latest" alias's too.
    stream = [
        "CentOS-Stream-9-20241118.0-x86_64-boot.iso.SHA256SUM",
        "CentOS-Stream-9-latest-x86_64-boot.iso.SHA256SUM",
    ]
    stream.append("CentOS-Stream-9-20240101.0-x86_64-boot.iso.SHA256SUM")
    assert checksum_list(stream) == "CentOS-Stream-9-20241118.0-x86_64-boot.iso.SHA256SUM"


def test_the_newest_boot_iso_of_the_arch_is_chosen_and_latest_aliases_are_not_versions():
    entries = {
        "AlmaLinux-9.5-x86_64-boot.iso": "a" * 64,
        "AlmaLinux-9.10-x86_64-boot.iso": "b" * 64,
        "AlmaLinux-9-latest-x86_64-boot.iso": "c" * 64,
        "AlmaLinux-9.10-x86_64-dvd.iso": "d" * 64,
        "AlmaLinux-9.6-aarch64-boot.iso": "e" * 64,
    }
    family, version, name = newest_boot_iso(entries, "amd64", "CHECKSUM")
    assert (family.name, version, name) == ("AlmaLinux", "9.10", "AlmaLinux-9.10-x86_64-boot.iso")
    assert newest_boot_iso(entries, "arm64", "CHECKSUM")[1] == "9.6"
    fedora = {"Fedora-Server-netinst-x86_64-41-1.4.iso": "a" * 64, "Fedora-Server-dvd-x86_64-41-1.4.iso": "b" * 64}
    assert newest_boot_iso(fedora, "amd64", "x")[2] == "Fedora-Server-netinst-x86_64-41-1.4.iso"
    assert {f.name for f in FAMILIES} == {"Fedora", "AlmaLinux", "Rocky Linux", "CentOS Stream"}


def test_a_list_with_no_boot_iso_for_the_arch_says_which_arches_it_has():
    with pytest.raises(
        NotOffered, match=r"CHECKSUM lists no boot ISO for arm64 \(aarch64\); it lists boot ISOs for amd64"
    ):
        newest_boot_iso({"Rocky-9.5-x86_64-boot.iso": "a" * 64}, "arm64", "http://m.example.org/CHECKSUM")


def test_the_release_dir_fills_in_release_and_basearch_or_follows_the_isos_tree():
    alma = Source(name="a", url="https://repo.almalinux.org/almalinux/", layout="anaconda-iso")
    assert release_dir(alma, "amd64", "9") == "https://repo.almalinux.org/almalinux/9/isos/x86_64/"
    fedora = Source(name="f", url="https://dl.example.org/" + FEDORA_TEMPLATE, layout="anaconda-iso")
    assert release_dir(fedora, "arm64", "41") == "https://dl.example.org/fedora/linux/releases/41/Server/aarch64/iso/"


def test_a_treeinfo_that_lists_another_hash_is_refused_and_one_that_lists_none_is_not(tmp_path):
    files = {"treeinfo": tmp_path / "treeinfo"}
    hashes = {"linux": "1" * 64, "initrd": "2" * 64, "install.img": "3" * 64}
    files["treeinfo"].write_text("[stage2]\nmainimage = images/install.img\n")
    check_treeinfo("http://m.example.org/x.iso", files, hashes)  # lorax's own: no [checksums]
    files["treeinfo"].write_text(f"[checksums]\nimages/pxeboot/vmlinuz = sha256:{'1' * 64}\n")
    check_treeinfo("http://m.example.org/x.iso", files, hashes)
    files["treeinfo"].write_text(f"[checksums]\nimages/pxeboot/initrd.img = sha256:{'9' * 64}\n")
    with pytest.raises(LayoutError, match=r"x.iso#.treeinfo lists images/pxeboot/initrd.img as sha256:9+, but"):
        check_treeinfo("http://m.example.org/x.iso", files, hashes)
    files["treeinfo"].write_text("not an ini file\n")
    with pytest.raises(LayoutError, match="is not a tree description"):
        check_treeinfo("http://m.example.org/x.iso", files, hashes)


def test_a_fedora_checksum_list_in_its_published_shape_parses():
    # Fedora's CHECKSUM: "# <iso>: <size> bytes" comment lines and BSD-tagged SHA256 lines.
    text = "# Fedora-Server-netinst-x86_64-41-1.4.iso: 1095761920 bytes\n"
    text += f"SHA256 (Fedora-Server-netinst-x86_64-41-1.4.iso) = {'A' * 64}\n"
    assert parse_sha256sums(text) == {"Fedora-Server-netinst-x86_64-41-1.4.iso": "a" * 64}


def test_a_directory_url_in_boot_options_keeps_every_file_below_it(tmp_path):
    http = HttpRoot(tmp_path / "http", HTTP_URL, grace_seconds=0)
    source = tmp_path / "install.img"
    source.write_bytes(b"stage 2")
    http.publish("almalinux/9/0123456789abcdef/images/install.img", source)
    http.publish("almalinux/9/fedcba9876543210/images/install.img", source)
    options = f"inst.stage2={HTTP_URL}/images/almalinux/9/0123456789abcdef/ ip=dhcp"

    named = http.named([options])

    assert named == {"almalinux/9/0123456789abcdef/images/install.img"}
    removed = http.collect_garbage(named, now=1e12)
    assert [p.relative_to(http.managed).as_posix() for p in removed] == [
        "almalinux/9/fedcba9876543210/images/install.img"
    ]
    assert http.has("almalinux/9/0123456789abcdef/images/install.img")


# End to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def isos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("xorriso")
    work = tmp_path_factory.mktemp("anaconda-isos")
    found = {}
    for key, family, version, name in (
        ("alma95", "AlmaLinux", "9.5", "AlmaLinux-9.5-x86_64-boot.iso"),
        ("alma96", "AlmaLinux", "9.6", "AlmaLinux-9.6-x86_64-boot.iso"),
        ("rocky", "Rocky Linux", "9.5", "Rocky-9.5-x86_64-boot.iso"),
        ("fedora", "Fedora", "41", "Fedora-Server-netinst-x86_64-41-1.4.iso"),
        ("stream", "CentOS Stream", "9", "CentOS-Stream-9-20241118.0-x86_64-boot.iso"),
    ):
        parts = (f"{key} kernel\n".encode(), f"{key} initrd\n".encode(), f"{key} install.img\n".encode() * 1000)
        found[key] = boot_iso(work / name, family, version, *parts)
    return found


def published(upstream: Path, relative: str, signer: ArchiveSigner, *isos: Path, style: str = "clearsigned"):
    """An ISO directory below `upstream` holding `isos`, its CHECKSUM written in `style`."""
    directory = IsoDirectory(upstream, relative, signer)
    for iso in isos:
        directory.add(iso.name, iso)
    directory.write_list("CHECKSUM", style)
    return directory


def run(server: FaultServer, tftp_root: Path, signer: ArchiveSigner, url: str, release: str, *args: str):
    out, err = StringIO(), StringIO()
    argv = ["--layout", "anaconda-iso", "--archive", server.url + url, "--tftproot", str(tftp_root)]
    argv += ["--keyring", str(signer.keyring), "--arch", "amd64", "--release", release, *args]
    try:
        call_command("import_pxe_files", *argv, stdout=out, stderr=err)
        return CommandResult(0, out.getvalue(), err.getvalue())
    except CommandError as exc:
        return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))


def test_an_almalinux_import_serves_kernel_and_initrd_and_keeps_the_installer_image_for_nodes(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"])

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code == 0, result.stderr
    install = install_dir(tftp_root, "amd64", "9")
    assert (install / "linux").read_bytes() == b"alma95 kernel\n"
    assert (install / "initrd").read_bytes() == b"alma95 initrd\n"
    stage2 = f"almalinux/9/{sha256(isos['alma95'].read_bytes())[:16]}"
    kept = http_root / "images" / stage2 / "images" / "install.img"
    assert kept.read_bytes() == b"alma95 install.img\n" * 1000
    assert (install / "install.img").read_bytes() == kept.read_bytes()
    # The tree description inst.stage2 reads first, as the ISO has it (its [stage2] names images/install.img).
    assert "mainimage = images/install.img" in (http_root / "images" / stage2 / ".treeinfo").read_text()
    for menu in ("pxelinux.cfg/default", "grub/grub.cfg"):
        text = (base(tftp_root, "amd64") / menu).read_text()
        assert f"inst.stage2={HTTP_URL}/images/{stage2}/ ip=dhcp" in text, text
    # The entries say the distribution and the point release they boot.
    version = os.readlink(install)
    assert (
        f"SAY   9: AlmaLinux 9.5 installer ({version})"
        in (base(tftp_root, "amd64") / "pxelinux.cfg/default").read_text()
    )
    assert (
        f"menuentry '9: AlmaLinux 9.5 installer ({version})'"
        in (base(tftp_root, "amd64") / "grub/grub.cfg").read_text()
    )
    # The loaders come from another source of the arch: this one plans none, and with none the run says so.
    assert not (base(tftp_root, "amd64") / "pxelinux.0").exists()
    assert "amd64 serves 9 but no pre-boot loader, so its nodes cannot boot them" in result.stderr


def test_a_rocky_list_with_a_detached_signature_imports_and_an_unchanged_one_fetches_no_iso(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ROCKY, signer, isos["rocky"], style="detached")
    first = run(server, tftp_root, signer, "rocky/", "9")
    assert first.code == 0, first.stderr
    served = os.readlink(install_dir(tftp_root, "amd64", "9"))
    server.clear()

    again = run(server, tftp_root, signer, "rocky/", "9")

    assert again.code == 0, again.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "9")) == served
    paths = sorted(r.path for r in server.requests)
    assert paths == ["/rocky/9/isos/x86_64/", "/rocky/9/isos/x86_64/CHECKSUM", "/rocky/9/isos/x86_64/CHECKSUM.sig"]


def test_a_fedora_compose_list_is_found_from_the_index_page_and_the_url_template(
    server, upstream, isos, tftp_root, http_root, signer
):
    directory = IsoDirectory(upstream, FEDORA, signer)
    directory.add(isos["fedora"].name, isos["fedora"])
    directory.write_list("Fedora-Server-41-1.4-x86_64-CHECKSUM", "clearsigned")

    result = run(server, tftp_root, signer, FEDORA_TEMPLATE, "41")

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "41") / "linux").read_bytes() == b"fedora kernel\n"
    assert (http_root / "images" / "fedora" / "41").is_dir()


def test_a_new_point_release_is_a_new_version_and_the_old_stays_for_the_grace_period(
    server, upstream, isos, tftp_root, http_root, signer
):
    directory = published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    old = os.readlink(install_dir(tftp_root, "amd64", "9"))
    directory.add(isos["alma96"].name, isos["alma96"])
    directory.write_list()

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code == 0, result.stderr
    new = os.readlink(install_dir(tftp_root, "amd64", "9"))
    assert new != old and (install_dir(tftp_root, "amd64", "9") / "linux").read_bytes() == b"alma96 kernel\n"
    assert (base(tftp_root, "amd64") / "9" / old / "linux").read_bytes() == b"alma95 kernel\n"
    kept = sorted(p.parent.parent.name for p in (http_root / "images" / "almalinux" / "9").glob("*/images/install.img"))
    assert len(kept) == 2  # the old image stays while a node that read the old menu may still fetch it


def test_a_tampered_iso_is_refused_and_what_is_served_stays(server, upstream, isos, tftp_root, http_root, signer):
    directory = published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    served = os.readlink(install_dir(tftp_root, "amd64", "9"))
    directory.add(isos["alma96"].name, isos["alma96"])
    directory.write_list()
    tampered = directory.path / isos["alma96"].name
    data = bytearray(tampered.read_bytes())
    data[40000] ^= 0xFF
    tampered.write_bytes(bytes(data))

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code != 0
    assert "AlmaLinux-9.6-x86_64-boot.iso" in result.stderr and "SHA-256" in result.stderr, result.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "9")) == served


def test_an_unsigned_centos_stream_list_is_refused_naming_what_is_missing(
    server, upstream, isos, tftp_root, http_root, signer
):
    directory = IsoDirectory(upstream, "9-stream/BaseOS/x86_64/iso", signer)
    directory.add(isos["stream"].name, isos["stream"])
    directory.write_list("SHA256SUM", "unsigned")

    result = run(server, tftp_root, signer, "{release}-stream/BaseOS/{basearch}/iso/", "9")

    assert result.code != 0
    assert "SHA256SUM" in result.stderr and "unsigned" in result.stderr, result.stderr
    assert "pin the ISO's SHA-256 in the boot source (--iso-sha256)" in result.stderr
    assert not install_dir(tftp_root, "amd64", "9").exists()


def test_a_list_signed_by_another_key_is_refused(server, upstream, isos, tftp_root, http_root, signer, tmp_path):
    stranger = ArchiveSigner(tmp_path / "stranger")
    published(upstream, ALMA, stranger, isos["alma95"])

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code != 0
    assert "almalinux/9/isos/x86_64/CHECKSUM" in result.stderr, result.stderr
    assert not install_dir(tftp_root, "amd64", "9").exists()


def test_without_an_http_root_the_run_says_the_installer_image_needs_one(server, upstream, isos, tftp_root, signer):
    published(upstream, ALMA, signer, isos["alma95"])

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code != 0
    assert "PXEIMPORT_HTTP_ROOT" in result.stderr and "install.img" in result.stderr, result.stderr
    assert not any(r.path.endswith(".iso") for r in server.requests)


def test_an_iso_whose_treeinfo_disagrees_with_its_files_is_refused_and_what_is_served_stays(
    server, upstream, isos, tftp_root, http_root, signer, tmp_path
):
    directory = published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    served = os.readlink(install_dir(tftp_root, "amd64", "9"))
    members: dict[str, bytes | Path] = {
        "images/pxeboot/vmlinuz": b"kernel 9.6\n",
        "images/pxeboot/initrd.img": b"initrd 9.6\n",
        "images/install.img": b"install.img 9.6\n",
    }
    # The description was made for another initrd than the one the image holds.
    members[".treeinfo"] = treeinfo("AlmaLinux", "9.6", "x86_64", {**members, "images/pxeboot/initrd.img": b"other"})
    make_iso(directory.path / "AlmaLinux-9.6-x86_64-boot.iso", members, volume_id="AlmaLinux-9.6")
    directory.write_list()

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code != 0
    assert "AlmaLinux-9.6-x86_64-boot.iso#.treeinfo lists images/pxeboot/initrd.img as sha256:" in result.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "9")) == served


def test_a_cut_iso_download_resumes_and_the_next_run_fetches_only_the_rest(
    server, upstream, tftp_root, http_root, signer, settings
):
    settings.PXEIMPORT_HTTP_RETRIES = 0  # the cut ends this run; the next run continues it
    directory = IsoDirectory(upstream, ALMA, signer)
    # Over the 16 MiB from which downloads are kept between runs (FetchSettings.resume_min_bytes).
    stage2 = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(600_000))
    iso = boot_iso(directory.path / "AlmaLinux-9.5-x86_64-boot.iso", "AlmaLinux", "9.5", b"k\n", b"i\n", stage2)
    directory.write_list()
    size = iso.stat().st_size
    server.reset("*.iso", after=int(size * 0.6), times=1)

    first = run(server, tftp_root, signer, "almalinux/", "9")

    assert first.code == 1
    partial = tftp_root / "maas" / ".partial" / sha256(iso.read_bytes())
    assert partial.is_file() and 0.5 * size < partial.stat().st_size <= 0.6 * size
    server.clear()

    second = run(server, tftp_root, signer, "almalinux/", "9")

    assert second.code == 0, second.stderr
    [request] = server.matching("*.iso")
    assert request.range.startswith("bytes=") and request.status == 206 and request.bytes_sent <= 0.5 * size
    assert (install_dir(tftp_root, "amd64", "9") / "install.img").read_bytes() == stage2
    assert not partial.exists()


def test_a_rack_names_its_own_copy_of_the_installer_image_directory():
    region = "http://region.example.org/pxe/images/"
    path = "almalinux/9/0123456789abcdef/images/install.img"
    options = f"inst.stage2={region}almalinux/9/0123456789abcdef/ ip=dhcp inst.ks={region}almalinux/9/x.ks"

    rebased = _rebased(options, region + path, path, lambda p: f"http://rack.example.org/images/{p}")

    assert rebased == (
        "inst.stage2=http://rack.example.org/images/almalinux/9/0123456789abcdef/ ip=dhcp "
        f"inst.ks={region}almalinux/9/x.ks"
    )


def test_the_contrib_nginx_site_serves_the_installer_tree_inst_stage2_names(
    server, upstream, isos, tftp_root, http_root, signer, settings, tmp_path
):
    port = free_port()
    settings.PXEIMPORT_HTTP_URL = f"http://127.0.0.1:{port}/pxe"
    published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    menu = (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text()
    tree = re.search(r"inst.stage2=(\S+)", menu).group(1)  # type: ignore[union-attr]
    with running_nginx(boot_site(port, http_root, tftp_root), tmp_path) as nginx:
        wait_for(f"http://127.0.0.1:{port}/pxe/", nginx)
        # What anaconda's dracut module asks for: <tree>/.treeinfo, then the image it names.
        described = requests.get(tree + ".treeinfo", timeout=30)
        assert described.status_code == 200 and "mainimage = images/install.img" in described.text
        image = requests.get(tree + "images/install.img", timeout=30)
        assert image.status_code == 200 and image.content == b"alma95 install.img\n" * 1000
        # A copy still being written stays hidden beside it.
        (http_root / "images" / "almalinux" / "9" / ".install.img.new-1a2b").write_text("partial")
        assert requests.get(f"{tree}../.install.img.new-1a2b", timeout=30).status_code == 403


def test_an_anaconda_source_beside_one_that_feeds_the_loaders_claims_no_loaders():
    # A fresh database's Ubuntu source feeds amd64's loaders; an AlmaLinux source of amd64 is no clash.
    assert claimed_elsewhere(None, ["amd64"], ["9"], "anaconda-iso", "other", True) == []
    debian = claimed_elsewhere(None, ["amd64"], ["bookworm"], "debian-installer", "debian", True)
    assert any("pre-boot loaders are already fed" in line for line in debian)


# What a walk as an operator found ----------------------------------------------------------


def http_copy(http_root: Path, iso: Path) -> Path:
    return http_root / "images" / "almalinux" / "9" / sha256(iso.read_bytes())[:16] / "images" / "install.img"


def test_an_installer_image_changed_in_place_is_rebuilt_and_the_http_roots_copy_is_the_rebuilt_one(
    server, upstream, isos, tftp_root, http_root, signer
):
    """The copy nodes fetch (inst.stage2) was a hard link of the served file: a rebuild used to fix the
    TFTP root's file alone and leave the damaged bytes where nodes read them."""
    published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    copy = http_copy(http_root, isos["alma95"])
    with open(copy, "r+b") as f:  # both names of the one file
        f.seek(5)
        f.write(b"X")

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code == 0, result.stderr
    good = b"alma95 install.img\n" * 1000
    assert (install_dir(tftp_root, "amd64", "9") / "install.img").read_bytes() == good
    assert copy.read_bytes() == good


def test_verify_hashes_the_http_roots_copy_and_makes_it_again_from_the_served_file_without_a_download(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    copy = http_copy(http_root, isos["alma95"])
    size = copy.stat().st_size
    copy.unlink()
    copy.write_bytes(b"x" * size)  # another file of the same size: only hashing tells
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0  # a plain run trusts sizes
    server.clear()

    result = run(server, tftp_root, signer, "almalinux/", "9", "--verify")

    assert result.code == 1 and "found and repaired" in result.stderr, result.stderr
    assert f"{copy}: missing or not install.img's bytes; kept again from the served file" in result.stderr
    assert copy.read_bytes() == b"alma95 install.img\n" * 1000
    assert not server.matching("*.iso")


def test_a_deleted_http_copy_is_kept_again_from_the_served_file(server, upstream, isos, tftp_root, http_root, signer):
    published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0
    copy = http_copy(http_root, isos["alma95"])
    copy.unlink()
    server.clear()

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code == 0, result.stderr
    assert copy.read_bytes() == b"alma95 install.img\n" * 1000
    assert not server.matching("*.iso")


def test_a_server_that_refuses_index_pages_is_asked_for_checksum_by_name(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"])
    server.fail("*/isos/x86_64/", status=403)  # nginx's autoindex off, Apache's -Indexes

    result = run(server, tftp_root, signer, "almalinux/", "9")

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "9") / "linux").read_bytes() == b"alma95 kernel\n"


def test_a_point_release_given_as_the_release_says_how_releases_are_named(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"])

    result = run(server, tftp_root, signer, "almalinux/", "9.5")

    assert result.code != 0
    assert "is it the ISO directory of release 9.5 for x86_64?" in result.stderr, result.stderr
    assert "9 for AlmaLinux 9.x" in result.stderr


def test_an_arch_the_layout_does_not_import_is_a_selection_to_fix_not_a_failed_item(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"])

    result = run(server, tftp_root, signer, "almalinux/", "9", "--arch", "i386")

    assert result.code == 2, result.stderr
    assert "anaconda-iso imports amd64, arm64 (RPM's x86_64, aarch64) from images/pxeboot/, not i386" in result.stderr


def test_without_a_keyring_the_command_line_says_which_key_it_needs(server, tftp_root, http_root):
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_pxe_files", "--layout", "anaconda-iso", "--archive", server.url + "almalinux/", "--arch", "amd64",
            "--release", "9", "--tftproot", str(tftp_root),
        )  # fmt: skip
    assert caught.value.returncode == 2
    assert "--layout anaconda-iso needs --keyring FILE: the distribution's signing key" in str(caught.value)


def test_the_admin_form_checks_arches_releases_and_keyring_for_the_layout():
    assert fits_layout("anaconda-iso", ["amd64", "i386"], [], "") == [
        "anaconda-iso imports amd64, arm64, not i386",
        "anaconda-iso has no default releases (distro-info knows none of its): select them",
        "anaconda-iso needs a keyring: " + AnacondaIso.own_keyring,
    ]
    assert fits_layout("anaconda-iso", ["arm64"], ["9"], "/usr/share/keyrings/alma.gpg") == []
    assert fits_layout("ubuntu-iso", ["i386"], [], "") == []


def test_dhcp_config_after_an_anaconda_only_import_says_which_source_the_loaders_need(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"])
    assert run(server, tftp_root, signer, "almalinux/", "9").code == 0

    with pytest.raises(CommandError) as caught:
        call_command("dhcp_config", "--server", "dnsmasq", "--tftproot", str(tftp_root), stdout=StringIO())

    assert caught.value.returncode == 1
    said = str(caught.value)
    assert "amd64 serves 9 but no pre-boot loader" in said and "(debian-installer or ubuntu-iso)" in said
    assert "run import_pxe_files first" not in said


# A pinned ISO ------------------------------------------------------------------------------


def test_an_unsigned_list_gives_the_iso_pinned_by_its_sha256_and_the_install_says_so(
    server, upstream, isos, tftp_root, http_root, signer
):
    directory = IsoDirectory(upstream, "9-stream/BaseOS/x86_64/iso", signer)
    directory.add(isos["stream"].name, isos["stream"])
    directory.write_list("SHA256SUM", "unsigned")
    pin = sha256(isos["stream"].read_bytes())

    result = run(server, tftp_root, signer, "{release}-stream/BaseOS/{basearch}/iso/", "9", "--iso-sha256", pin.upper())

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "9") / "linux").read_bytes() == b"stream kernel\n"
    assert f"takes only the ISO with SHA-256 {pin} (pinned)" in result.stderr
    assert InstalledFile.objects.get(name="linux").signed_by == "pinned by the boot source"


def test_a_pin_the_list_does_not_name_is_refused_naming_the_newest_it_does(
    server, upstream, isos, tftp_root, http_root, signer
):
    published(upstream, ALMA, signer, isos["alma95"], isos["alma96"])

    result = run(server, tftp_root, signer, "almalinux/", "9", "--iso-sha256", "ab" * 32)

    assert result.code == 1
    newest = f"its newest: AlmaLinux-9.6-x86_64-boot.iso, {sha256(isos['alma96'].read_bytes())}"
    assert f"with the pinned SHA-256 {'ab' * 32} ({newest})" in result.stderr, result.stderr
    assert not install_dir(tftp_root, "amd64", "9").exists()


def test_a_pin_holds_a_signed_list_at_the_pinned_point_release(server, upstream, isos, tftp_root, http_root, signer):
    published(upstream, ALMA, signer, isos["alma95"], isos["alma96"])

    result = run(server, tftp_root, signer, "almalinux/", "9", "--iso-sha256", sha256(isos["alma95"].read_bytes()))

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "9") / "linux").read_bytes() == b"alma95 kernel\n"
    assert InstalledFile.objects.get(name="linux").signed_by == signer.fingerprint


def test_a_pin_is_not_a_sha256_is_a_usage_error():
    with pytest.raises(CommandError, match="is not a SHA-256"):
        call_command("import_pxe_files", "--layout", "anaconda-iso", "--iso-sha256", "abc")


def test_a_pin_binds_only_sources_whose_layout_reads_one(signer):
    keyring = str(signer.keyring)
    debian = BootSource.objects.create(name="d", url="http://m.example.org/debian/dists/", iso_sha256="ab" * 32)
    alma = BootSource.objects.create(
        name="alma", url="http://m.example.org/almalinux/", layout="anaconda-iso", keyring=keyring
    )
    for source, release in ((debian, "bookworm"), (alma, "9")):
        source.releases.create(name=release)
        source.arches.create(name="amd64")
    BootSource.objects.exclude(pk__in=[debian.pk, alma.pk]).update(enabled=False)

    saved = {s.source.name: s.source.iso_sha256 for s in resolve(Overrides())}
    given = {s.source.name: s.source.iso_sha256 for s in resolve(Overrides(iso_sha256="CD" * 32))}

    assert saved == {"d": "", "alma": ""}  # the debian source's stale pin (a hidden field) binds nothing
    assert given == {"d": "", "alma": "cd" * 32}


def test_the_admin_form_says_the_default_arches_and_a_refused_keyring_once():
    assert fits_layout("anaconda-iso", [], ["9"], "/k.gpg") == [
        "anaconda-iso imports amd64, arm64, not i386 (no architecture selected means amd64, i386: select some)"
    ]
    assert fits_layout("anaconda-iso", ["amd64"], ["9"], "refused") == []
