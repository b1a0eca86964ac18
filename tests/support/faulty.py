"""Shared by the fault, disk, hostile-input and concurrency tests: two releases, a run of the real
command against any server, fast HTTP settings, and what the TFTP root serves."""

from __future__ import annotations

import os
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.lib import sha256_file
from pxeimport.tftproot import MANIFEST
from tests.support.commands import CommandResult
from tests.support.tree import base, install_dir
from tools.archive import ArchiveTree, netboot_files

ARCH = "amd64"
RELEASES = ("bookworm", "trixie")
# bookworm is the current release too: the pre-boot loader comes from its index.
ARGS = ("--arch", ARCH, "--release", "bookworm", "--release", "trixie", "--current-release", "bookworm")
# Where the images of a release live below the archive root, and its kernel's path in them.
IMAGES = "dists/{release}/main/installer-amd64/current/images/"
KERNEL = IMAGES + "netboot/ubuntu-installer/amd64/linux"

Published = dict[str, dict[str, bytes]]


def fast_http(settings: Any, *, timeout: float = 0.5, retries: int = 2, backoff: float = 0.02) -> None:
    """Short timeouts, few retries and a small backoff, so a fault costs a test well under a second."""
    settings.PXEIMPORT_HTTP_TIMEOUT = timeout
    settings.PXEIMPORT_HTTP_RETRIES = retries
    settings.PXEIMPORT_HTTP_BACKOFF = backoff


def publish_both(archive: ArchiveTree, tag: str, size: int = 4096, *, uefi: bool = False) -> Published:
    """A new version of both releases (the same `tag` gives the same bytes); `uefi`: with shim and GRUB."""
    published = {}
    for release in RELEASES:
        files = netboot_files(f"{tag}-{release}", size=size, uefi=uefi)
        archive.publish(release, ARCH, files)
        published[release] = files
    return published


def run_import(server_url: str, tftp_root: Path, keyring: Path, *args: str, verbosity: int = 1) -> CommandResult:
    """import_pxe_files from `server_url`'s archive, in this process, as cron would run it."""
    out, err = StringIO(), StringIO()
    argv = ["--archive", server_url + "dists/", "--tftproot", str(tftp_root), "--keyring", str(keyring)]
    try:
        call_command("import_pxe_files", *argv, *(args or ARGS), verbosity=verbosity, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return CommandResult(code, out.getvalue(), err.getvalue())


def serving(tftp_root: Path, release: str) -> dict[str, bytes]:
    """What a TFTP client gets through the stable paths for `release` (and the loader)."""
    install = install_dir(tftp_root, ARCH, release)
    loader = base(tftp_root, ARCH)
    return {
        "linux": (install / "linux").read_bytes(),
        "initrd.gz": (install / "initrd.gz").read_bytes(),
        "pxelinux.0": (loader / "pxelinux.0").read_bytes(),
    }


def published_set(files: dict[str, bytes], loader: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """What `serving` should return: `files`' kernel and initrd, and `loader`'s pxelinux.0 (default: `files`')."""
    return {"linux": files["linux"], "initrd.gz": files["initrd.gz"], "pxelinux.0": (loader or files)["pxelinux.0"]}


def staging_entries(tftp_root: Path) -> list[str]:
    staging = tftp_root / "maas" / ".staging"
    return sorted(os.listdir(staging)) if staging.is_dir() else []


@dataclass(frozen=True)
class BrokenVersion:
    path: Path
    problem: str


def broken_versions(tftp_root: Path) -> list[BrokenVersion]:
    """Version dirs whose files do not match their own SHA256SUMS: none may ever exist."""
    broken = []
    for manifest in sorted((tftp_root / "maas").glob(f"*/base/**/{MANIFEST}")):
        directory = manifest.parent
        for line in manifest.read_text().splitlines():
            digest, _, name = line.partition("  ")
            path = directory / name
            if not path.is_file():
                broken.append(BrokenVersion(directory, f"{name} missing"))
            elif sha256_file(path) != digest:
                broken.append(BrokenVersion(directory, f"{name} does not match"))
    return broken
