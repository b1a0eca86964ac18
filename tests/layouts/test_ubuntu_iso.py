"""The ubuntu-iso layout end to end: a signed live-server ISO holding Debian's real netboot kernel and
initrd (and an HWE pair), loaders from a signed package archive of Debian's real .debs, served on
loopback by a server that does ranges and logs every request; the ISO kept in the HTTP root."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.layouts.ubuntu_iso import newest_iso
from pxeimport.models import BootSource
from tests.support.nginx import boot_site, running_nginx
from tests.support.tree import base, install_dir
from tests.support.ubuntu_iso import ARGS, HTTP_URL, ISO_3, ISO_4, http_root, parts, run, server, upstream  # noqa: F401 (fixtures)
from tests.support.web import free_port, wait_for

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = pytest.mark.django_db


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kept_iso(http: Path, iso: Path, name: str) -> Path:
    return http / "images" / "ubuntu" / "noble" / sha256(iso)[:16] / name


def menu(tftp_root: Path, name: str = "pxelinux.cfg/default") -> str:
    return (base(tftp_root, "amd64") / name).read_text()


def dpkg_member(deb: Path, member: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"dpkg-{deb.stem}"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return (out / member).read_bytes()


# The layout's own logic --------------------------------------------------------------------


def test_the_newest_point_release_iso_of_the_arch_is_the_version():
    entries = {
        "ubuntu-24.04.3-live-server-amd64.iso": "a" * 64,
        "ubuntu-24.04.10-live-server-amd64.iso": "b" * 64,
        "ubuntu-24.04.9-live-server-arm64.iso": "c" * 64,
        "ubuntu-24.04-desktop-amd64.iso": "d" * 64,
    }
    assert newest_iso(entries, "amd64", "x") == ("24.04.10", "ubuntu-24.04.10-live-server-amd64.iso")
    assert newest_iso(entries, "arm64", "x")[0] == "24.04.9"


# End to end ------------------------------------------------------------------------------


def test_an_import_takes_kernels_from_the_iso_loaders_from_packages_and_keeps_the_iso_for_nodes(
    run, parts, tftp_root, http_root, tmp_path
):
    result = run()

    assert result.code == 0, result.stderr
    install = install_dir(tftp_root, "amd64", "noble")
    assert (install / "linux").read_bytes() == parts["linux"].read_bytes()
    assert (install / "initrd").read_bytes() == parts["initrd"].read_bytes()
    assert (install / "hwe-linux").read_bytes() == parts["linux"].read_bytes()
    assert (install / "hwe-initrd").read_bytes() == b"hwe initrd stand-in\n"
    # Loaders: the newest shim across the pockets (-updates), each file as dpkg-deb unpacks it.
    loaders = base(tftp_root, "amd64")
    shim = dpkg_member(parts["deb:shim-newer"], "usr/lib/shim/shimx64.efi.signed", tmp_path)
    assert (loaders / "bootx64.efi").read_bytes() == shim
    grub = "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
    assert (loaders / "grubx64.efi").read_bytes() == dpkg_member(parts["deb:grub-efi-amd64-signed"], grub, tmp_path)
    assert (loaders / "pxelinux.0").stat().st_size > 10_000 and (loaders / "ldlinux.c32").is_file()
    # The verified ISO kept at an immutable path below the HTTP root; both menus' entries point at it.
    kept = kept_iso(http_root, parts["iso3"], ISO_3)
    assert sha256(kept) == sha256(parts["iso3"])
    iso_url = f"{HTTP_URL}/images/ubuntu/noble/{sha256(parts['iso3'])[:16]}/{ISO_3}"
    pxelinux, grub_cfg = menu(tftp_root), menu(tftp_root, "grub/grub.cfg")
    for text in (pxelinux, grub_cfg):
        assert text.count(f"iso-url={iso_url}") == 2, text  # the main and the HWE entry
        assert "root=/dev/ram0 ramdisk_size=1500000 ip=dhcp" in text and "cloud-config-url=/dev/null" in text
    assert "LABEL noble\n" in pxelinux and "LABEL noble-hwe\n" in pxelinux
    assert f"KERNEL noble/{os.readlink(install)}/hwe-linux" in pxelinux
    assert "menuentry 'noble-hwe installer" in grub_cfg
    if shutil.which("grub-script-check"):
        subprocess.run(["grub-script-check", str(base(tftp_root, "amd64") / "grub" / "grub.cfg")], check=True)


def test_without_an_http_root_the_menus_name_upstreams_iso_and_nothing_is_kept(run, server, tftp_root, tmp_path):
    assert run().code == 0
    assert f"iso-url={server.url}releases/noble/{ISO_3} " in menu(tftp_root)
    assert not (tmp_path / "http").exists()


def test_an_unchanged_release_downloads_nothing_but_indexes(run, server, http_root):
    assert run().code == 0
    server.clear()

    result = run()

    assert result.code == 0 and "0 installed" in result.stdout, result.stdout + result.stderr
    fetched = sorted({r.path.rsplit("/", 1)[1] for r in server.requests})
    # The signed roots, whole; Packages.xz comes from the cache, as its hash is what the fresh InRelease lists.
    assert fetched == ["InRelease", "SHA256SUMS", "SHA256SUMS.gpg"], fetched


def test_a_point_release_becomes_a_new_version_and_the_old_iso_goes_after_the_grace_period(
    run, upstream, parts, tftp_root, http_root, settings
):
    assert run().code == 0
    before = os.readlink(install_dir(tftp_root, "amd64", "noble"))
    old = kept_iso(http_root, parts["iso3"], ISO_3)
    upstream.add_iso("noble", "24.04.4", parts["iso4"])

    result = run()

    assert result.code == 0, result.stderr
    assert os.readlink(install_dir(tftp_root, "amd64", "noble")) != before
    assert kept_iso(http_root, parts["iso4"], ISO_4).is_file()
    assert ISO_4 in menu(tftp_root) and ISO_3 not in menu(tftp_root)
    assert "noble-hwe" not in menu(tftp_root)  # 24.04.4's ISO has no HWE pair
    assert old.is_file(), "within the grace period the old ISO stays for nodes that read the old menu"

    settings.PXEIMPORT_GRACE_SECONDS = 0
    assert run().code == 0
    assert not old.exists() and not old.parent.exists()
    assert kept_iso(http_root, parts["iso4"], ISO_4).is_file()


def test_a_dry_run_says_which_kept_iso_a_real_run_deletes_and_deletes_nothing(
    run, upstream, parts, tftp_root, http_root, settings
):
    assert run().code == 0
    old = kept_iso(http_root, parts["iso3"], ISO_3)
    upstream.add_iso("noble", "24.04.4", parts["iso4"])
    assert run().code == 0
    settings.PXEIMPORT_GRACE_SECONDS = 0

    dry = run("--dry-run")

    assert dry.code == 0, dry.stderr
    assert old.is_file()
    deletes = f"{old}: no menu or kept version names it, past the grace period"
    assert f"would remove {deletes}" in dry.stdout
    assert f"removed {deletes}" in run().stdout
    assert not old.exists()


def test_a_tampered_iso_installs_nothing(run, upstream, tftp_root, http_root):
    iso = upstream.releases / "noble" / ISO_3
    with open(iso, "r+b") as f:
        f.seek(40000)
        f.write(b"tampered")

    result = run()

    assert result.code == 1
    assert "SHA-256 mismatch" in result.stderr
    assert not install_dir(tftp_root, "amd64", "noble").exists()
    assert not any(p.is_file() for p in http_root.rglob("*"))


def test_a_tampered_deb_installs_no_loader(run, upstream, tftp_root):
    grub = next(upstream.packages.root.glob("pool/main/g/grub-efi-amd64-signed/*.deb"))
    grub.write_bytes(grub.read_bytes()[:-100] + b"x" * 100)

    result = run()

    assert result.code == 1
    assert "grub-efi-amd64-signed" in result.stderr and "SHA-256 mismatch" in result.stderr
    assert not (base(tftp_root, "amd64") / "grubx64.efi").exists()
    assert not (base(tftp_root, "amd64") / "bootx64.efi").exists()


def test_a_loader_failure_names_the_package_archive_the_loaders_come_from_not_the_iso_source(
    run, upstream, server, tftp_root
):
    in_release = upstream.packages.root / "dists" / "noble" / "InRelease"
    in_release.write_bytes(in_release.read_bytes().replace(b"Suite: noble", b"Suite: nobel", 1))

    result = run()

    assert result.code == 1
    loader_line = next(line for line in result.stderr.splitlines() if "pre-boot loader" in line and "failed" in line)
    assert f"{server.url}ubuntu/dists/" in loader_line, loader_line
    assert f"{server.url}releases/" not in loader_line, loader_line


def test_an_unsigned_index_installs_nothing(run, upstream, tftp_root):
    (upstream.releases / "noble" / "SHA256SUMS.gpg").unlink()

    result = run()

    assert result.code == 1
    assert "unsigned" in result.stderr
    assert not install_dir(tftp_root, "amd64", "noble").exists()


def test_an_iso_download_cut_at_60_percent_resumes_and_the_next_run_fetches_only_the_rest(
    run, server, parts, tftp_root, http_root, settings
):
    settings.PXEIMPORT_HTTP_RETRIES = 0  # the cut ends this run; the next run continues it
    size = parts["iso3"].stat().st_size
    server.reset(f"*/{ISO_3}", after=int(size * 0.6), times=1)

    first = run()

    assert first.code == 1
    partial = tftp_root / "maas" / ".partial" / sha256(parts["iso3"])
    assert partial.is_file() and 0.5 * size < partial.stat().st_size <= 0.6 * size
    server.clear()

    second = run()

    assert second.code == 0, second.stderr
    iso_requests = server.matching(f"*/{ISO_3}")
    assert len(iso_requests) == 1 and iso_requests[0].range.startswith("bytes=")
    assert iso_requests[0].status == 206
    assert iso_requests[0].bytes_sent <= 0.5 * size
    assert sha256(kept_iso(http_root, parts["iso3"], ISO_3)) == sha256(parts["iso3"])
    assert not partial.exists()


def test_too_little_free_space_for_the_iso_fails_before_a_byte_of_it_is_fetched(run, server, tftp_root, monkeypatch):
    monkeypatch.setattr("pxeimport.layouts.ubuntu_iso.ISO_FREE_BYTES", 1 << 60)

    result = run()

    assert result.code == 1
    assert "before downloading" in result.stderr and "MiB are free" in result.stderr
    assert server.count(f"*/{ISO_3}") == 0
    assert not install_dir(tftp_root, "amd64", "noble").exists()


def test_the_ubuntu_iso_layout_without_a_loader_archive_is_a_usage_error_naming_the_option(server, tftp_root, signer):
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_pxe_files", "--layout", "ubuntu-iso", "--archive", server.url + "releases/",
            "--tftproot", str(tftp_root), "--keyring", str(signer.keyring), *ARGS, stdout=StringIO(), stderr=StringIO(),
        )  # fmt: skip
    assert caught.value.returncode == 2 and "--loader-archive" in str(caught.value)
    assert not tftp_root.exists()  # refused before any request or write


# Defaults --------------------------------------------------------------------------------


def test_a_fresh_database_selects_the_ubuntu_iso_layout_with_lts_releases_for_amd64():
    source = BootSource.objects.get(enabled=True)
    assert (source.url, source.layout) == ("https://releases.ubuntu.com/", "ubuntu-iso")
    assert source.loader_archive == "http://archive.ubuntu.com/ubuntu/dists/"
    assert [a.name for a in source.arches.all()] == ["amd64"]
    assert {r.name for r in source.releases.all()} == {"noble", "resolute"}
    assert re.match(r"arm64 https://cdimage\.ubuntu\.com/releases/\{release\}/release/ ", source.arch_urls)
    assert not BootSource.objects.get(name="ubuntu-netboot").enabled


# The contrib nginx site, for real ------------------------------------------------------------


def test_the_contrib_nginx_site_serves_the_iso_at_the_menus_url_whole_and_by_range(
    run, parts, tftp_root, http_root, settings, tmp_path
):
    port = free_port()
    settings.PXEIMPORT_HTTP_URL = f"http://127.0.0.1:{port}/pxe"
    assert run().code == 0
    iso_url = re.search(r"iso-url=(\S+)", menu(tftp_root)).group(1)  # type: ignore[union-attr]
    with running_nginx(boot_site(port, http_root, tftp_root), tmp_path) as server:
        wait_for(f"http://127.0.0.1:{port}/pxe/", server)
        iso = parts["iso3"].read_bytes()
        whole = requests.get(iso_url, timeout=30)
        assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == sha256(parts["iso3"])
        assert whole.headers.get("Accept-Ranges") == "bytes"
        part = requests.get(iso_url, headers={"Range": "bytes=1000000-1999999"}, timeout=30)
        assert part.status_code == 206 and part.content == iso[1000000:2000000]
        rest = requests.get(iso_url, headers={"Range": f"bytes={len(iso) - 100}-"}, timeout=30)
        assert rest.status_code == 206 and rest.content == iso[-100:]
        # The TFTP root too, for HTTP boot: the kernel by its stable path; pxeimport's own state never.
        tftp = f"http://127.0.0.1:{port}/maas/amd64/base"  # at /, where GRUB reads over HTTP
        kernel = requests.get(f"{tftp}/noble/install/linux", timeout=30)
        assert kernel.status_code == 200 and kernel.content == parts["linux"].read_bytes()
        assert requests.get(f"http://127.0.0.1:{port}/maas/.lock", timeout=30).status_code == 403
        # A link out of the root to a file another user owns is refused; a copy still being written too.
        outside = tmp_path / "outside.txt"
        outside.write_text("not for nodes\n")
        os.chown(outside, 65534, 65534)
        (tftp_root / "maas/amd64/base/planted").symlink_to(outside)
        assert requests.get(f"{tftp}/planted", timeout=30).status_code == 403
        (http_root / ".ubuntu.iso.new-x1").write_text("partial")
        assert requests.get(f"http://127.0.0.1:{port}/pxe/.ubuntu.iso.new-x1", timeout=30).status_code == 403
