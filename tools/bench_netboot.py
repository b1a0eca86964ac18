"""How much faster a UEFI node boots over HTTP than over TFTP: the same kernel and initrd, the same node.

Runs in a private network (tests/support/netlab.py; root needed): dnsmasq configured by `manage.py
dhcp_config` with its TFTP server, nginx running contrib/nginx/pxeimport-boot, and QEMU (TCG, OVMF
without Secure Boot) booting Debian 12's netboot files imported by `import_pxe_files` into a scratch root.
Each run is a new node (a new MAC) from QEMU's start to "Linux version" on its serial console: by then
GRUB has fetched the kernel and the whole initrd (its `initrd` command reads the file before `boot`).
TFTP and HTTP runs alternate, N of each; the medians and their ratio are printed.

Debian 12's signed GRUB has no http module (dhcp_config offers no HTTP boot for it), so the archive
publishes Debian's netboot GRUB rebuilt with http (netlab.grub_with_http: same prefix; unsigned, hence
Secure Boot off), and both kinds of run use it. Run: .venv/bin/python -m tools.bench_netboot [-n N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.support.netlab import (
    HTTP_BOOT_ONLY,
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
from tests.support.qemu import KERNEL_STARTED, ovmf_firmware
from tools import demo
from tools.archive import ArchiveTree
from tools.httpserver import ArchiveServer
from tools.signing import ArchiveSigner

BASE = "maas/amd64/base"
GAVE_UP = "Shell>"  # OVMF's last boot option, the EFI shell: every network boot option failed


def manage(scratch: Path, *args: str) -> str:
    """`manage.py <args>` on a scratch database (PXEIMPORT_VAR_DIR), menus booting their default at once."""
    env = {**os.environ, "PXEIMPORT_VAR_DIR": str(scratch / "var"), "PXEIMPORT_MENU_TIMEOUT": "0"}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=demo.PROJECT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"manage.py {args[0]} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def imported_root(scratch: Path) -> Path:
    """Debian 12's amd64 netboot files with a GRUB that reads HTTP, from a signed loopback archive, imported
    into scratch/tftpboot."""
    files = demo.netboot_files({"amd64": demo.fetch_debs()["amd64"]})["amd64"]
    files["grubx64.efi"] = grub_with_http(scratch)
    signer = ArchiveSigner(scratch / "gnupg")
    try:
        tree = ArchiveTree(scratch / "archive", installer_dir="debian-installer", signer=signer)
        tree.publish("bookworm", "amd64", files)
        manage(scratch, "migrate", "-v0")
        with ArchiveServer(tree.root) as server:
            argv = ["--archive", f"{server.url}dists/", "--tftproot", str(scratch / "tftpboot")]
            argv += ["--keyring", str(signer.keyring), "--arch", "amd64", "--release", "bookworm"]
            argv += ["--current-release", "bookworm", "--kernel-opts", "console=ttyS0,115200"]
            manage(scratch, "import_pxe_files", *argv)
    finally:
        signer.close()
    return scratch / "tftpboot"


def run_once(lab: Lab, scratch: Path, how: str) -> float:
    """One node booting by `how` ("tftp" or "http"); seconds from QEMU's start to the kernel's first line."""
    firmware = ovmf_firmware(scratch)  # a fresh copy of OVMF's variables each time
    extra = HTTP_BOOT_ONLY if how == "http" else []
    node = Node(f"bench-netboot-{how}-serial.log", [*firmware, *extra], (KERNEL_STARTED, GAVE_UP))
    [booted] = boot_nodes(lab, [node], timeout=900)
    if booted.seconds is None or KERNEL_STARTED not in booted.text:
        raise SystemExit(f"the {how} boot did not reach the kernel; see {booted.path}")
    return booted.seconds


def bench(runs: int, scratch: Path) -> dict[str, list[float]]:
    root = imported_root(scratch)
    linux, initrd = (next((root / BASE / "bookworm").glob(f"install-*/{n}")) for n in ("linux", "initrd.gz"))
    print(f"kernel {linux.stat().st_size / 1e6:.1f} MB, initrd {initrd.stat().st_size / 1e6:.1f} MB, {runs} runs each")
    times: dict[str, list[float]] = {"tftp": [], "http": []}
    with network_lab(scratch / "lab") as lab:
        product = manage(
            scratch, "dhcp_config", "--server", "dnsmasq", "--tftproot", str(root), "--http-url", lab.url("/")
        )
        if "pxeimport-7" not in product or "pxeimport-16" not in product:
            raise SystemExit(f"dhcp_config offers no UEFI boot (TFTP and HTTP) here:\n{product}")
        config = dnsmasq_config(lab, product, tftp_root=root)
        with (
            running_dnsmasq(lab, config, keep="bench-netboot-dnsmasq.log"),
            namespace_nginx(lab, root, keep="bench-netboot-nginx-access.log"),
        ):
            for n in range(runs):
                for how in ("tftp", "http") if n % 2 == 0 else ("http", "tftp"):
                    times[how].append(run_once(lab, scratch, how))
                    print(f"  run {n + 1} {how.upper():<4} {times[how][-1]:6.1f} s", flush=True)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_netboot", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=3, help="boots of each kind (default 3)")
    args = parser.parse_args(argv)
    missing = lab_missing() or next(
        (f"{t} is not installed" for t in ("grub-mkimage", "dpkg-deb") if not shutil.which(t)), None
    )
    if missing:
        print(f"bench_netboot: {missing}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-netboot-") as scratch:
        times = bench(args.runs, Path(scratch))
    tftp, http = statistics.median(times["tftp"]), statistics.median(times["http"])
    print(f"median from QEMU start to 'Linux version': TFTP {tftp:.1f} s, HTTP {http:.1f} s")
    print(f"TFTP/HTTP: {tftp / http:.2f} (HTTP is {abs(tftp - http):.1f} s {'faster' if http < tftp else 'slower'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
