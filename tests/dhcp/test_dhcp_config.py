"""manage.py dhcp_config: the DHCP stanzas for what the root serves, checked by each real DHCP server's own
configuration test (dnsmasq --test, dhcpd -t, kea-dhcp4 -t), naming only files the root serves."""

from __future__ import annotations

import json
import re
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.dhcp import boot_files
from pxeimport.tftproot import TftpRoot
from tests.support.requirements import require_tool
from tools.archive import ArchiveTree, netboot_files
from tools.pe import stand_in_grub

pytestmark = pytest.mark.django_db

ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
HTTP = "http://boot.example.org/"


@pytest.fixture
def served(archive: ArchiveTree, import_pxe, tftp_root: Path) -> Path:
    """A root whose GRUB can read HTTP (its http module built in), so every kind of stanza is printed."""
    files = netboot_files("v1", uefi=True)
    files["grubx64.efi"] = stand_in_grub(b"v1", ("efinet", "tftp", "http"))
    archive.publish("bookworm", "amd64", files)
    assert import_pxe(*ARGS).code == 0
    return tftp_root


def dhcp_config(*args: str) -> str:
    out = StringIO()
    call_command("dhcp_config", *args, stdout=out)
    return out.getvalue()


def test_each_client_architecture_gets_the_loader_the_root_serves_for_it(served):
    files = {f.client_arch: f.name for f in boot_files(TftpRoot(served), HTTP)}
    assert files == {
        0: "maas/amd64/base/pxelinux.0",
        7: "maas/amd64/base/bootnetx64.efi",
        9: "maas/amd64/base/bootnetx64.efi",
        16: f"{HTTP}maas/amd64/base/bootnetx64.efi",
    }  # no ARM64 (11, 19) nor IA32 (6): this root serves no loader for them
    for f in boot_files(TftpRoot(served), HTTP):
        assert (served / f.path).is_file()


def test_without_an_http_url_no_http_boot_is_offered(served):
    assert {f.client_arch for f in boot_files(TftpRoot(served))} == {0, 7, 9}


def test_http_boot_is_not_offered_for_a_grub_that_cannot_read_http_and_a_note_says_why(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("v1", uefi=True))  # GRUB with tftp only, as Debian 12's
    assert import_pxe(*ARGS).code == 0
    out, err = StringIO(), StringIO()
    call_command("dhcp_config", "--server", "dnsmasq", "--tftproot", str(tftp_root), "--http-url", HTTP,
                 stdout=out, stderr=err)  # fmt: skip
    assert "option 93 = 16" not in out.getvalue()
    assert err.getvalue() == (
        "Note: UEFI x86-64 HTTP boot (option 93 = 16) left out: maas/amd64/base/grubx64.efi has no http module "
        "built in: booted over HTTP it could not fetch its menu (UEFI nodes still boot over TFTP, option 93 = 7, "
        "9, 11)\n"
    )


def test_an_http_url_with_a_path_is_refused_as_grub_reads_from_the_servers_root(served):
    with pytest.raises(CommandError, match=r"the TFTP root must be served at /") as caught:
        dhcp_config("--server", "dnsmasq", "--tftproot", str(served), "--http-url", "http://192.0.2.10/tftp")
    assert caught.value.returncode == 2


def test_dnsmasq_keeps_the_boot_file_in_the_bootp_file_field_where_the_shim_reads_its_directory(served):
    assert dhcp_config("--server", "dnsmasq", "--tftproot", str(served)).splitlines()[1] == "dhcp-no-override"
    long = "http://" + "b" * 100 + ".example.org/"
    with pytest.raises(CommandError, match="longer than the 127 bytes dnsmasq can put in the BOOTP file field"):
        dhcp_config("--server", "dnsmasq", "--tftproot", str(served), "--http-url", long)


def test_a_root_serving_no_loader_is_exit_1_saying_to_import_first(tftp_root):
    tftp_root.mkdir()
    with pytest.raises(CommandError) as caught:
        dhcp_config("--server", "dnsmasq", "--tftproot", str(tftp_root))
    assert caught.value.returncode == 1
    assert str(caught.value).endswith(
        "serves no pre-boot loader yet (it has no maas/: is it the TFTP root?): run import_pxe_files first"
    )


def test_a_tftp_root_that_is_no_directory_is_a_usage_error_that_says_so(tmp_path):
    with pytest.raises(CommandError) as caught:
        dhcp_config("--server", "dnsmasq", "--tftproot", str(tmp_path / "tftpbot"))
    assert caught.value.returncode == 2
    assert str(caught.value) == f"{tmp_path / 'tftpbot'} is not a directory: give the TFTP root with --tftproot"


def test_a_retired_arch_is_never_named_while_its_files_wait_out_the_grace_period(served):
    from pxeimport.tftproot import RETIRED_MARK

    (served / "maas" / "amd64" / RETIRED_MARK).write_text("")
    with pytest.raises(CommandError, match=r"serves every arch it served is retired \(amd64\)"):
        dhcp_config("--server", "dnsmasq", "--tftproot", str(served))


@pytest.mark.parametrize(
    "url",
    ["https://boot.example.org/", "http://boot.example.org/?x=1", "http://boot.example.org/#f", "http://",
     "http://boot.example.org:99999/", 'http://boot"x.example.org/', "http://boot.example.org/tftp"],
)  # fmt: skip
def test_an_http_url_nodes_could_not_boot_from_is_one_line_and_exit_2(served, url):
    with pytest.raises(CommandError, match=r"give http://HOST\[:PORT\]/$") as caught:
        dhcp_config("--server", "isc", "--tftproot", str(served), "--http-url", url)
    assert caught.value.returncode == 2


@pytest.mark.parametrize(("option", "value"), [("--http-url", "boot.example.org/tftp"), ("--tftp-server", "host")])
def test_bad_options_are_a_usage_error(served, option, value):
    with pytest.raises(CommandError) as caught:
        dhcp_config("--server", "isc", "--tftproot", str(served), option, value)
    assert caught.value.returncode == 2


def test_dnsmasq_accepts_its_configuration(served, tmp_path):
    dnsmasq = require_tool("dnsmasq")
    text = dhcp_config("--server", "dnsmasq", "--tftproot", str(served), "--http-url", HTTP)
    assert "dhcp-boot=tag:pxeimport-0,maas/amd64/base/pxelinux.0" in text
    assert f"dhcp-option-force=tag:pxeimport-16,60,HTTPClient\ndhcp-boot=tag:pxeimport-16,{HTTP}maas/" in text
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(text)
    done = subprocess.run([dnsmasq, "--test", f"--conf-file={conf}"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "syntax check OK" in done.stderr, done.stderr


def test_isc_dhcpd_accepts_its_configuration(served, tmp_path):
    dhcpd = require_tool("dhcpd")
    text = dhcp_config("--server", "isc", "--tftproot", str(served), "--http-url", HTTP, "--tftp-server", "10.0.0.2")
    assert 'filename "maas/amd64/base/bootnetx64.efi";' in text and "next-server 10.0.0.2;" in text
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(text)
    done = subprocess.run([dhcpd, "-t", "-cf", str(conf)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_kea_accepts_its_configuration(served, tmp_path):
    kea = require_tool("kea-dhcp4")
    text = dhcp_config("--server", "kea", "--tftproot", str(served), "--http-url", HTTP)
    config = json.loads(re.sub(r"^//.*$", "", text, flags=re.M))
    names = {c["name"]: c for c in config["Dhcp4"]["client-classes"]}
    assert names["pxeimport-7"]["test"] == "option[93].hex == 0x0007"
    assert names["pxeimport-16"]["option-data"] == [{"name": "vendor-class-identifier", "data": "HTTPClient"}]
    conf = tmp_path / "kea-dhcp4.conf"
    conf.write_text(text)
    done = subprocess.run([kea, "-t", str(conf)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("server", ["dnsmasq", "isc"])
def test_the_docs_examples_are_the_commands_output(served, server):
    page = (Path(__file__).resolve().parents[2] / "docs/operator/booting-nodes.md").read_text()
    example = re.search(rf"^```{server}\n(.*?)^```$", page, re.M | re.S)
    assert example is not None
    args = ("--server", server, "--tftproot", str(served), "--http-url", "http://192.0.2.10/")
    printed = dhcp_config(*args, "--tftp-server", "192.0.2.10")
    assert printed.split("\n", 1)[1] == example.group(1)  # all but the header naming the root
