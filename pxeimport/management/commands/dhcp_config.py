"""Print the DHCP server's boot stanzas for what the TFTP root serves (dnsmasq, ISC dhcpd or Kea)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pxeimport.dhcp import SERVERS, boot_files, http_left_out, render
from pxeimport.importer import loaderless
from pxeimport.lib import EXIT_FAILED, EXIT_USAGE
from pxeimport.tftproot import TftpRoot

# The BOOTP `file` field is 128 bytes with its terminating NUL (RFC 951).
DNSMASQ_FILE_BYTES = 127


class Command(BaseCommand):
    help = (
        "Print the DHCP configuration that sends each kind of client (option 93: BIOS, UEFI x86-64, ARM64, "
        "and with --http-url UEFI HTTP boot) to the boot file the TFTP root serves now; a file it does not "
        "serve is never named. Exit 1 when it serves no loader yet (run an import first), 2 for bad options."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", required=True, choices=sorted(SERVERS), help="The DHCP server.")
        parser.add_argument("--tftproot", type=Path, metavar="DIR", help="Default: PXEIMPORT_TFTPROOT.")
        parser.add_argument(
            "--http-url",
            default="",
            metavar="URL",
            help="Where the TFTP root is served over HTTP, at the server's root (contrib/nginx/pxeimport-boot: "
            "http://HOST/): adds UEFI HTTP boot (option 93 = 16, 19) where the served GRUB can read HTTP.",
        )
        parser.add_argument(
            "--tftp-server", default="", metavar="ADDRESS", help="The TFTP server's IPv4 address (next-server)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["http_url"]
        problem = _http_url_problem(url) if url else None
        if problem:
            raise CommandError(f"--http-url {url!r}: {problem}; give http://HOST[:PORT]/", returncode=EXIT_USAGE)
        if options["tftp_server"]:
            try:
                ipaddress.IPv4Address(options["tftp_server"])
            except ValueError as exc:
                raise CommandError(f"--tftp-server: {exc}", returncode=EXIT_USAGE) from exc
        root = TftpRoot((options["tftproot"] or settings.PXEIMPORT_TFTPROOT).absolute())
        if not root.path.is_dir():
            raise CommandError(
                f"{root.path} is not a directory: give the TFTP root with --tftproot", returncode=EXIT_USAGE
            )
        files = boot_files(root, url)
        if not files:
            raise CommandError(f"{root.path} serves {_why_no_loader(root)}", returncode=EXIT_FAILED)
        for reason in http_left_out(root, url):
            self.stderr.write(f"Note: {reason}")
        if options["server"] == "dnsmasq" and any(len(f.name) > DNSMASQ_FILE_BYTES for f in files):
            raise CommandError(
                f"a boot file name is longer than the {DNSMASQ_FILE_BYTES} bytes dnsmasq can put in the BOOTP file "
                "field, where the shim reads its directory: use a shorter --http-url",
                returncode=EXIT_USAGE,
            )
        header = f"# pxeimport: boot files {root.path} serves (manage.py dhcp_config --server {options['server']})"
        text = render(options["server"], files, options["tftp_server"])
        comment = "//" if options["server"] == "kea" else "#"
        self.stdout.write(header.replace("#", comment, 1) + "\n" + text, ending="")


def _http_url_problem(url: str) -> str | None:
    """Why `url` cannot be where nodes HTTP-boot the TFTP root from, or None. GRUB's http module speaks plain
    HTTP (no TLS) and reads absolute paths from the server's root; the URL goes into DHCP answers verbatim."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return "an http URL is needed (GRUB's http module has no TLS)"
    if any(c.isspace() or c in "\"'\\;{}" for c in url) or parts.query or parts.fragment:
        return "no spaces, quotes, query or fragment"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1:
        return "it names no host, or a port that is not a number from 1 to 65535"
    if parts.path not in ("", "/"):
        return (
            "GRUB reads its menus at fixed paths from the HTTP server's root, so the TFTP root must be served at / "
            "(contrib/nginx/pxeimport-boot)"
        )
    return None


def _why_no_loader(root: TftpRoot) -> str:
    """Why `root` names no boot file, and what to do: said after "<root> serves "."""
    retired = [a for a in root.arches() if a not in root.arches(retired=False)]
    if retired and not root.arches(retired=False):
        return f"every arch it served is retired ({', '.join(retired)}): run import_pxe_files first"
    if not (root.path / "maas").is_dir():
        return "no pre-boot loader yet (it has no maas/: is it the TFTP root?): run import_pxe_files first"
    stranded = loaderless(root)
    if stranded:
        return f"no pre-boot loader to name: {'; '.join(stranded)}"
    return "no pre-boot loader yet: run import_pxe_files first"
