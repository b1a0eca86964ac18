"""The boot files as a DHCP server's configuration: dnsmasq (dhcp-match on option 93, dhcp-boot), ISC dhcpd
(a class per client architecture) and Kea (client classes testing option 93). Each is a fragment to put
in the server's configuration beside its subnets; `tftp_server` is the TFTP server's address when it is
not the DHCP server itself (DHCP's siaddr, "next-server"). Sources: dnsmasq(8) for dhcp-match, dhcp-boot and
dhcp-option-force; dhcpd.conf(5) and dhcp-options(5); Kea's "Client Classification" chapter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pxeimport.dhcp.bootfiles import BootFile

HTTP_CLIENT = "HTTPClient"  # option 60 in an HTTP boot answer (UEFI 2.5 section 24.7)


def _dnsmasq(files: Sequence[BootFile], tftp_server: str) -> str:
    # A UEFI client asks for option 67, and dnsmasq then leaves the BOOTP `file` field empty; but a shim takes
    # the directory to load GRUB from out of that field (shim's netboot.c), and fetches a bare "grubx64.efi".
    # dhcp-no-override keeps the boot file name in the `file` field (at most 127 bytes; dnsmasq(8)).
    lines = ["dhcp-no-override"]
    for f in files:
        tag = f"pxeimport-{f.client_arch}"
        lines.append(f"# {f.what} (option 93 = {f.client_arch})")
        lines.append(f"dhcp-match=set:{tag},option:client-arch,{f.client_arch}")
        if f.http:
            lines.append(f"dhcp-option-force=tag:{tag},60,{HTTP_CLIENT}")
            lines.append(f"dhcp-boot=tag:{tag},{f.url}")
        else:
            lines.append(f"dhcp-boot=tag:{tag},{f.path}" + (f",,{tftp_server}" if tftp_server else ""))
    return "\n".join(lines) + "\n"


def _isc(files: Sequence[BootFile], tftp_server: str) -> str:
    lines = ["option pxeimport-client-arch code 93 = unsigned integer 16;"]
    for f in files:
        lines.append(f"# {f.what}")
        lines.append(f'class "pxeimport-{f.client_arch}" {{')
        lines.append(f"  match if option pxeimport-client-arch = {f.client_arch};")
        if f.http:
            lines.append(f'  option vendor-class-identifier "{HTTP_CLIENT}";')
        elif tftp_server:
            lines.append(f"  next-server {tftp_server};")
        lines.append(f'  filename "{f.name}";')
        lines.append("}")
    return "\n".join(lines) + "\n"


def _kea(files: Sequence[BootFile], tftp_server: str) -> str:
    classes = []
    for f in files:
        entry: dict[str, object] = {
            "name": f"pxeimport-{f.client_arch}",
            "test": f"option[93].hex == 0x{f.client_arch:04x}",
            "boot-file-name": f.name,
        }
        if f.http:
            entry["option-data"] = [{"name": "vendor-class-identifier", "data": HTTP_CLIENT}]
        elif tftp_server:
            entry["next-server"] = tftp_server
        classes.append(entry)
    return json.dumps({"Dhcp4": {"client-classes": classes}}, indent=2) + "\n"


SERVERS: dict[str, Callable[[Sequence[BootFile], str], str]] = {"dnsmasq": _dnsmasq, "isc": _isc, "kea": _kea}


def render(server: str, files: Sequence[BootFile], tftp_server: str = "") -> str:
    """`files` as `server`'s configuration text ("dnsmasq", "isc" or "kea"; KeyError for another)."""
    return SERVERS[server](files, tftp_server)
