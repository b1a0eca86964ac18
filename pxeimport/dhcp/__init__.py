"""DHCP for what a TFTP root serves: which boot file each kind of client gets (bootfiles), and that as a
dnsmasq, ISC dhcpd or Kea configuration (servers). A file the root does not serve is never named.

Imports: lib, tftproot, secureboot (what a served GRUB can do). Django: never.
"""

from __future__ import annotations

from pxeimport.dhcp.bootfiles import CLIENT_ARCHES, BootFile, boot_files, http_left_out
from pxeimport.dhcp.servers import SERVERS, render

__all__ = ["CLIENT_ARCHES", "SERVERS", "BootFile", "boot_files", "http_left_out", "render"]
