"""UEFI HTTP boot and TFTP PXE boot with a real DHCP server: dnsmasq configured by `manage.py dhcp_config`.

Each test has a network namespace of its own (tests/support/netlab.py): a bridge, a tap device per QEMU
node, dnsmasq as the DHCP server (the lab adds only its interface, listen and dhcp-range lines around
the command's output) and, for HTTP boot, nginx running contrib/nginx/pxeimport-boot as shipped (the TFTP
root at /). The TFTP root is Debian 12's real netboot files imported by `import_pxe_files`.

What these boots found, each now a rule of the product and a test here:
- dnsmasq sends the boot file as option 67 to a client that asks for it (UEFI PXE does) and leaves the
  BOOTP `file` field empty; the shim takes its directory from that field and fetched "grubx64.efi" from
  the root's top. dhcp_config now prints `dhcp-no-override`, and a UEFI node boots through the shim.
- Debian 12's signed GRUB has no http module: HTTP-booted, it sets root (http,<server>), reads nothing and
  stops at its prompt. dhcp_config now offers HTTP boot only for a GRUB with http built in.
- A GRUB with http reads its fixed prefix and the menus' /maas/ paths from the server's root: the contrib
  site now serves the TFTP root at /, and dhcp_config refuses an --http-url with a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support.netlab import (
    GRUB_PREFIX,
    HTTP_BOOT_ONLY,
    Booted,
    Lab,
    Node,
    boot_nodes,
    dnsmasq_config,
    grub_with_http,
    lab_missing,
    namespace_nginx,
    network_lab,
    running_dnsmasq,
)
from tests.support.qemu import KEPT_LOGS, KERNEL_STARTED, debian_netboot, ovmf_firmware, typed  # noqa: F401 (a fixture)
from tests.support.requirements import require_tool, skip_or_fail
from tools.archive import ArchiveTree

# Tests name the imported fixtures as parameters: that is how pytest hands them over, not a redefinition.
# ruff: noqa: F811

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

BASE = "maas/amd64/base"
MENU_ENTRY = "bookworm installer (install-"  # GRUB's generated entry, as the menu shows it
PXELINUX_MENU = "pxeimport: booting bookworm"
GRUB_PROMPT = "grub>"  # where GRUB ends up when it finds no grub.cfg
GRUB_AGENT = '"GRUB 2.'  # GRUB's own HTTP requests in nginx's access log (UefiHttpBoot/1.0: the firmware's, the shim's)


def imported(tmp_path, signer, files, import_pxe, tftp_root) -> Path:
    """`files` (a netboot dir) from a signed loopback archive, imported with a serial console."""
    ArchiveTree(tmp_path / "archive", installer_dir="debian-installer", signer=signer).publish(
        "bookworm", "amd64", files
    )
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    result = import_pxe(*args, "--kernel-opts", "console=ttyS0,115200")
    assert result.code == 0, result.stderr
    assert {p.name for p in (tftp_root / BASE).iterdir()} >= {"bootnetx64.efi", "grubx64.efi", "pxelinux.0"}
    root: Path = tftp_root
    return root


@pytest.fixture
def served_root(tmp_path, signer, debian_netboot, archive_server, import_pxe, tftp_root) -> Path:
    """Debian 12's amd64 netboot files as Debian publishes them."""
    return imported(tmp_path, signer, debian_netboot, import_pxe, tftp_root)


@pytest.fixture
def grub_reads_http(lab, tmp_path, signer, debian_netboot, archive_server, import_pxe, tftp_root) -> Path:
    """Debian's netboot with its GRUB rebuilt with http (netlab.grub_with_http; unsigned, so for nodes with
    Secure Boot off), published upstream and imported like any GRUB (its .sbat passes the shim's level)."""
    for needed in ("grub-mkimage", "apt-get", "dpkg-deb"):
        require_tool(needed)
    files = dict(debian_netboot, **{"grubx64.efi": grub_with_http(tmp_path)})
    return imported(tmp_path, signer, files, import_pxe, tftp_root)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """This test's network namespace; a skip with the reason where the machine cannot make one (tests ask
    for it before served_root, so a skip costs no import)."""
    reason = lab_missing()
    if reason:
        skip_or_fail(reason)
    with network_lab(tmp_path / "lab") as made:
        yield made


def dhcp_config(root: Path, lab: Lab) -> str:
    """What an operator pastes into dnsmasq: `manage.py dhcp_config`, HTTP boot from the lab's nginx."""
    out = StringIO()
    call_command(
        "dhcp_config", "--server", "dnsmasq", "--tftproot", str(root), "--http-url", lab.url("/"), stdout=out,
        stderr=StringIO(),
    )  # fmt: skip
    return out.getvalue()


def lines_with(text: str, *words: str) -> str:
    """The lines of `text` holding any of `words`, for a failure message that shows the evidence."""
    return "\n".join(line for line in text.splitlines() if any(w in line for w in words))


# UEFI HTTP boot: DHCP only (no TFTP server at all), nginx serving the TFTP root ----------------------


def http_boot(
    lab: Lab,
    root: Path,
    firmware: list[str],
    *,
    keep: str,
    until: tuple[str, ...],
    config: str,
    keys: Sequence[tuple[str, list[str]]] = (),
) -> tuple[Booted, str, str]:
    """A UEFI node HTTP-booting from dnsmasq (DHCP only, `config` inside the lab's lines) and the contrib nginx
    site; its console, nginx's access log and dnsmasq's log (kept as var/`keep`-serial.log and so on)."""
    assert "enable-tftp" not in dnsmasq_config(lab, config)
    node = Node(f"{keep}-serial.log", [*firmware, *HTTP_BOOT_ONLY], until, keys=keys)
    with (
        running_dnsmasq(lab, dnsmasq_config(lab, config), keep=f"{keep}-dnsmasq.log") as dhcp_log,
        namespace_nginx(lab, root, keep=f"{keep}-nginx-access.log") as access_log,
    ):
        assert 69 not in lab.udp_ports(), "something serves TFTP in the lab"
        [booted] = boot_nodes(lab, [node], timeout=180)
    return booted, access_log.read_text(), dhcp_log.read_text()


# At GRUB's prompt: its built-in modules, its variables (root and prefix, set from the boot URL), and
# what reading its grub.cfg says.
GRUB_QUESTIONS = [
    (GRUB_PROMPT, typed("lsmod\n")),
    ("Dependencies", typed("set\n")),
    ("prefix=", [*typed("cat "), "shift-4", *typed("prefix"), "slash", *typed("grub.cfg\n")]),
]


def test_http_boot_is_left_out_for_debians_signed_grub_which_http_booted_stops_at_its_prompt(
    lab, served_root, tmp_path
):
    """Why dhcp_config offers no HTTP boot for Debian 12's loaders: HTTP-booted with a stanza written by hand,
    OVMF (Secure Boot on, Microsoft's keys) runs the shim from nginx and the shim Debian's GRUB, which has
    tftp but no http built in (Secure Boot's lockdown loads no module): it reads nothing and stops at grub>."""
    assert "pxeimport-16" not in dhcp_config(served_root, lab)
    by_hand = (
        "dhcp-match=set:http,option:client-arch,16\ndhcp-option-force=tag:http,60,HTTPClient\n"
        f"dhcp-boot=tag:http,{lab.url('/')}{BASE}/bootnetx64.efi\n"
    )
    firmware, until = ovmf_firmware(tmp_path, secure_boot=True), (KERNEL_STARTED, "not found.")
    booted, access, _ = http_boot(
        lab, served_root, firmware, keep="netlab-http-signed-grub", until=until, keys=GRUB_QUESTIONS, config=by_hand
    )
    text, keep = booted.text, booted.path
    assert ">>Start HTTP Boot over IPv4" in text, f"OVMF did not HTTP-boot; see {keep}"
    assert f'"GET /{BASE}/bootnetx64.efi HTTP/1.1" 200 ' in access, access
    assert re.search(rf'"GET /{BASE}/+grubx64.efi HTTP/1.1" 200 \d+ "-" "UefiHttpBoot/1.0"', access), access
    assert "Welcome to GRUB" in text, f"the shim did not start GRUB; see {keep}"
    modules = set(re.findall(r"^(\w+)[ \t]+\d+\b", text, re.MULTILINE))
    assert "tftp" in modules and "http" not in modules, f"GRUB's modules: {sorted(modules)}; see {keep}"
    assert re.search(r"error: disk `http,[^']*' not found", text), f"see {keep}"
    assert KERNEL_STARTED not in text and GRUB_AGENT not in access


def test_a_uefi_node_http_boots_a_grub_that_reads_http_through_the_menu_to_the_kernel_with_no_tftp_server(
    lab, grub_reads_http, tmp_path
):
    """The product's whole HTTP path: dhcp_config offers HTTP boot for a served GRUB with http (client arch
    16, option 60 HTTPClient, the shim's URL at the site's root); OVMF fetches the shim from nginx, the shim
    the GRUB beside it, GRUB pxeimport's redirect at its prefix, the menu, then the kernel and initrd."""
    config = dhcp_config(grub_reads_http, lab)
    assert f"dhcp-boot=tag:pxeimport-16,{lab.url('/')}{BASE}/bootnetx64.efi" in config, config
    booted, access, dhcp = http_boot(
        lab, grub_reads_http, ovmf_firmware(tmp_path), keep="netlab-http-grub", until=(KERNEL_STARTED,),
        config=config,
    )  # fmt: skip
    text, keep = booted.text, booted.path
    assert f"URI: {lab.url('/')}{BASE}/bootnetx64.efi" in text, f"not the shim's URL; see {keep}"
    assert "vendor class: HTTPClient:Arch:00016" in dhcp and "tags: pxeimport-16" in dhcp, dhcp
    assert re.search(r"sent size: +10 option: 60 vendor-class +48:54:54:50:43:6c:69:65:6e:74", dhcp), dhcp
    assert MENU_ENTRY in text, f"GRUB did not show the generated menu; see {keep}"
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"
    for path in (f"{GRUB_PREFIX}/grub.cfg", f"/{BASE}/grub/grub.cfg", f"/{BASE}/bookworm/install-"):
        assert re.search(rf'"GET {re.escape(path)}\S* HTTP/1.1" 200 \d+ "-" {re.escape(GRUB_AGENT)}', access), access
    initrd = rf'"GET /{BASE}/bookworm/install-\w+/initrd\.gz HTTP/1\.1" 200 \d+ "-" {re.escape(GRUB_AGENT)}'
    assert re.search(initrd, access), access


# TFTP PXE boot: the same dnsmasq with its TFTP server ---------------------------------------------


def bios_node(keep: str) -> Node:
    """SeaBIOS with QEMU's iPXE ROM on an e1000: client-arch 0, pxelinux.0 over TFTP."""
    return Node(keep, [], (KERNEL_STARTED,), machine="pc", nic="e1000")


def test_dnsmasq_as_dhcp_config_prints_it_pxe_boots_a_bios_and_a_secure_boot_uefi_node_at_once(
    lab, served_root, tmp_path
):
    """Real DHCP and TFTP, not QEMU's slirp: a BIOS node gets pxelinux.0 and the menu; a UEFI node (Secure
    Boot on) the shim, which finds GRUB's directory in the BOOTP file field (dhcp-no-override) and boots
    through the generated menu to the kernel."""
    uefi = Node("netlab-tftp-uefi-serial.log", ovmf_firmware(tmp_path, secure_boot=True), (KERNEL_STARTED,))
    keep_dhcp = "netlab-tftp-dnsmasq.log"
    config = dnsmasq_config(lab, dhcp_config(served_root, lab), tftp_root=served_root)
    with running_dnsmasq(lab, config, keep=keep_dhcp) as dhcp_log:
        bios, efi = boot_nodes(lab, [bios_node("netlab-tftp-bios-serial.log"), uefi], timeout=300)
    dhcp = dhcp_log.read_text()
    assert f"Filename: {BASE}/pxelinux.0" in bios.text, f"iPXE did not get pxelinux.0; see {bios.path}"
    assert PXELINUX_MENU in bios.text and KERNEL_STARTED in bios.text, f"the BIOS node did not boot; see {bios.path}"
    text, keep = efi.text, efi.path
    assert f"NBP filename is {BASE}/bootnetx64.efi" in text, f"OVMF's PXE did not get the shim; see {keep}"
    assert f"Fetching Netboot Image {BASE}/grubx64.efi" in text, f"the shim did not fetch GRUB; see {keep}"
    assert MENU_ENTRY in text, f"GRUB did not show the generated menu; see {keep}"
    assert "EFI stub: UEFI Secure Boot is enabled." in text, f"Secure Boot was off; see {keep}"
    assert KERNEL_STARTED in text, f"the kernel did not start; see {keep}"
    for name in ("pxelinux.0", "bootnetx64.efi", "grubx64.efi"):
        assert f"sent {served_root}/{BASE}/{name} to " in dhcp, (
            f"dnsmasq did not send {name}; see {KEPT_LOGS / keep_dhcp}"
        )
