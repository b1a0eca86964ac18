"""Nodes' view, with real parts: tftpd-hpa serves the TFTP root, a TFTP client follows the menu."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.tftp import BASE, TftpServer, menu_pair
from tools.archive import netboot_files

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ARGS = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "trixie")


def tag_of(blob: bytes) -> str:
    """netboot_files() content starts "<tag>:<name>:"."""
    return blob.split(b":", 1)[0].decode()


def test_a_tftp_client_gets_the_loaders_the_menu_and_the_files_the_menu_names(archive, import_pxe, tftp_root):
    published = {r: netboot_files(f"{r}-1", uefi=True) for r in ("bookworm", "trixie")}
    for release, files in published.items():
        archive.publish(release, "amd64", files)
    assert import_pxe(*ARGS).code == 0

    with TftpServer(tftp_root) as tftp:
        assert tftp.get(f"{BASE}/pxelinux.0") == published["trixie"]["pxelinux.0"]
        assert tftp.get(f"{BASE}/ldlinux.c32") == published["trixie"]["boot-screens/ldlinux.c32"]
        assert tftp.get(f"{BASE}/bootnetx64.efi") == published["trixie"]["bootnetx64.efi"]
        menu = tftp.get(f"{BASE}/pxelinux.cfg/default").decode()
        assert "DEFAULT trixie" in menu
        for release in ("bookworm", "trixie"):
            kernel, initrd = menu_pair(menu, release)
            assert tftp.get(f"{BASE}/{kernel}") == published[release]["linux"]
            assert tftp.get(f"{BASE}/{initrd}") == published[release]["initrd.gz"]
        grub = tftp.get(f"{BASE}/grub/grub.cfg").decode()
        kernel_path = re.search(r"linux /(\S+/trixie/install-\w+/linux)", grub)
        assert kernel_path and tftp.get(kernel_path.group(1)) == published["trixie"]["linux"]


@dataclass
class Tally:
    boots: int = 0
    mismatches: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def boot_loop(tftp: TftpServer, stop: threading.Event, tally: Tally) -> None:
    """One node booting again and again: read the menu, then (slowly) the kernel, then the initrd."""
    while not stop.is_set():
        try:
            menu = tftp.get(f"{BASE}/pxelinux.cfg/default").decode()
            kernel, initrd = menu_pair(menu, "trixie")
            time.sleep(0.1)  # the node loads pxelinux modules, shows the prompt...
            kernel_tag = tag_of(tftp.get(f"{BASE}/{kernel}"))
            time.sleep(0.1)
            initrd_tag = tag_of(tftp.get(f"{BASE}/{initrd}"))
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError, IndexError) as exc:
            with tally.lock:
                tally.failures.append(repr(exc))
            continue
        with tally.lock:
            tally.boots += 1
            if kernel_tag != initrd_tag:
                tally.mismatches.append(f"kernel {kernel_tag} with initrd {initrd_tag}")


def test_nodes_booting_while_imports_publish_new_versions_always_get_a_matching_pair(
    archive, archive_server, tftp_root, signer, settings
):
    settings.PXEIMPORT_GRACE_SECONDS = 60
    clients, imports = 4, 8
    argv = ["--archive", archive_server.url + "dists/", "--tftproot", str(tftp_root), "--keyring", str(signer.keyring)]
    archive.publish("bookworm", "amd64", netboot_files("bookworm-0"))
    archive.publish("trixie", "amd64", netboot_files("trixie-0", size=256 * 1024))
    call_command("import_pxe_files", *argv, *ARGS, verbosity=0)

    tally, stop = Tally(), threading.Event()
    with TftpServer(tftp_root) as tftp:
        threads = [threading.Thread(target=boot_loop, args=(tftp, stop, tally)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        try:
            for n in range(1, imports + 1):
                archive.publish("trixie", "amd64", netboot_files(f"trixie-{n}", size=256 * 1024))
                call_command("import_pxe_files", *argv, *ARGS, verbosity=0, stdout=StringIO())
                time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

    print(
        f"\nboot stress: {clients} clients, {tally.boots} boots, {imports} imports, "
        f"{len(tally.mismatches)} mismatches, {len(tally.failures)} failed fetches"
    )
    assert tally.failures == []
    assert tally.mismatches == []
    assert tally.boots >= clients * 2, "the clients should have booted several times during the imports"
