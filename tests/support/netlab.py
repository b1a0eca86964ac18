"""A private network in which QEMU nodes boot from real servers: a network namespace of its own, a bridge
with the servers' address, one tap device per node, dnsmasq (DHCP, and TFTP when asked) and nginx
running the contrib site inside it. Nothing reaches the machine's own network, and nothing outside sees
the nodes' DHCP; the namespace and every process started in it are gone when `network_lab` exits.

Why not QEMU's slirp: its built-in DHCP answers every client the same way and fills the BOOTP `file`
field itself, so it cannot show what a real DHCP server does with pxeimport's `dhcp_config` output
(client-arch matches, option 60 for HTTP boot, option 67 versus the `file` field).

OVMF and HTTP boot: Debian's OVMF 2022.11 builds have HttpBootDxe, HttpDxe, DnsDxe and TlsDxe (their UI
names are in the LZMA-compressed DXE volume of OVMF_CODE_4M{,.secboot}.fd), so every NIC gets "UEFI
HTTPv4"/"UEFI HTTPv6" boot options, after "UEFI PXEv4"/"UEFI PXEv6". QEMU's `-boot order` is SeaBIOS's
only; OVMF orders devices by `bootindex` (fw_cfg "bootorder"), which ranks a NIC, not one of its
protocols. HTTP_BOOT_ONLY removes the PXE options instead: edk2's OvmfPkg PxeBcPcdProducerLib reads the
fw_cfg files opt/org.tianocore/IPv4PXESupport and IPv6PXESupport (strings in the same volume) into
PcdIPv4PXESupport/PcdIPv6PXESupport, and with both off UefiPxeBcDxe binds no NIC, so HTTPv4 is the
NIC's first option. Without them OVMF tries PXEv4, then PXEv6 (timing out), then HTTPv4.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.nginx import BOOT_SITE, site_with
from tests.support.qemu import FIRMWARE_NIC, KEPT_LOGS, console_text, press
from tools import demo

# TEST-NET-1 (RFC 5737): the namespace's servers are .1, the nodes lease .100 to .199.
ADDRESS = "192.0.2.1"
DHCP_RANGE = "192.0.2.100,192.0.2.199,255.255.255.0,1h"
BRIDGE = "pxelab0"
TOOLS = ("ip", "dnsmasq", "nginx", "qemu-system-x86_64")
# OVMF with its PXE drivers off (see above): a NIC's first boot option is UEFI HTTP boot over IPv4.
HTTP_BOOT_ONLY = [
    "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
    "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
]  # fmt: skip
# Debian 12's netboot GRUB (grubx64.efi) rebuilt with http: its prefix, the modules its `lsmod` lists for
# booting an entry, and http; from Debian's own grub-efi-amd64-bin 2.06 (see grub_with_http).
GRUB_PACKAGE = "grub-efi-amd64-bin"
GRUB_PREFIX = "/debian-installer/amd64/grub"
GRUB_SBAT = (
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
    "grub,5,Free Software Foundation,grub,2.06,https://www.gnu.org/software/grub/\n"
    "grub.debian,5,Debian,grub2,2.06-13+deb12u2,https://tracker.debian.org/pkg/grub2\n"
)
GRUB_MODULES = [
    *("efinet", "net", "tftp", "http", "normal", "configfile", "echo", "test", "regexp", "linux", "linuxefi"),
    *("serial", "terminfo", "gzio", "all_video", "efi_gop", "minicmd", "ls", "cat", "chain"),
]
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21  # linux/capability.h: tap devices and bridges; `ip netns add` mounts


class LabError(RuntimeError):
    """A server of the lab did not start; the message has its own words."""


def tool(name: str) -> str | None:
    """The tool's path; Debian puts dnsmasq and nginx in /usr/sbin, which a user's PATH may lack."""
    return shutil.which(name) or next((f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if Path(d, name).exists()), None)


def lab_missing() -> str | None:
    """Why this machine cannot run a lab (no root, no CAP_NET_ADMIN, no /dev/net/tun, a tool missing), or None."""
    status = Path("/proc/self/status").read_text()
    effective = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), 16)
    needed = 1 << CAP_NET_ADMIN | 1 << CAP_SYS_ADMIN
    if os.geteuid() != 0 or effective & needed != needed:
        return "network namespaces and tap devices need root with CAP_NET_ADMIN and CAP_SYS_ADMIN"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (modprobe tun)"
    absent = [name for name in TOOLS if tool(name) is None]
    return (
        f"{', '.join(absent)} not installed (apt-get install iproute2 dnsmasq-base nginx-light qemu-system-x86)"
        if absent
        else None
    )


@dataclass
class Lab:
    """A network namespace with a bridge at ADDRESS; `workdir` holds the servers' files."""

    name: str
    workdir: Path
    address: str = ADDRESS
    _taps: Iterator[int] = field(default_factory=itertools.count)

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def ip(self, *args: str) -> None:
        """`ip -n <namespace> <args>`; CalledProcessError with ip's own words on failure."""
        subprocess.run([tool("ip") or "ip", "-n", self.name, *args], check=True, capture_output=True, text=True)

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace (`ip netns exec` execs it: the process keeps its pid)."""
        return [tool("ip") or "ip", "netns", "exec", self.name, *argv]

    def add_tap(self) -> str:
        """A new tap device on the bridge, up, for one QEMU node; it goes with the namespace."""
        tap = f"tap{next(self._taps)}"
        self.ip("tuntap", "add", "dev", tap, "mode", "tap")
        self.ip("link", "set", tap, "master", BRIDGE, "up")
        return tap

    def udp_ports(self) -> set[int]:
        """The UDP ports something listens on in the namespace (69 would be a TFTP server)."""
        ss = tool("ss") or "ss"  # iproute2's, like ip
        listed = subprocess.run(self.command(ss, "-ulnH"), check=True, capture_output=True, text=True).stdout
        return {int(line.split()[3].rsplit(":", 1)[1]) for line in listed.splitlines() if line.strip()}


@contextlib.contextmanager
def network_lab(workdir: Path) -> Iterator[Lab]:
    """A namespace of its own (unique name), lo up and the bridge at ADDRESS; deleted after, even on failure,
    with every process still in it ended first (a process left inside would keep the namespace alive)."""
    workdir.mkdir(parents=True, exist_ok=True)
    lab, ip = Lab(f"pxeimport-{os.getpid()}-{secrets.token_hex(4)}", workdir), tool("ip") or "ip"
    subprocess.run([ip, "netns", "add", lab.name], check=True, capture_output=True, text=True)
    try:
        lab.ip("link", "set", "lo", "up")
        lab.ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0")
        lab.ip("addr", "add", f"{ADDRESS}/24", "dev", BRIDGE)
        lab.ip("link", "set", BRIDGE, "up")
        yield lab
    finally:
        pids = subprocess.run([ip, "netns", "pids", lab.name], capture_output=True, text=True).stdout.split()
        for pid in pids:  # only processes this lab started can be in a namespace it made
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run([ip, "netns", "delete", lab.name], check=True, capture_output=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_until(ready: Path, text: str, process: subprocess.Popen[bytes], what: str, timeout: float = 20) -> None:
    """Poll until `ready` exists (and holds `text`); LabError if `process` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists() and text in ready.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise LabError(f"{what} exited {process.returncode}; see {ready.parent}")
        time.sleep(0.05)
    raise LabError(f"{what} was not ready after {timeout:.0f} s; see {ready}")


def dnsmasq_config(lab: Lab, product: str, *, tftp_root: Path | None = None, extra: Sequence[str] = ()) -> str:
    """dnsmasq's configuration: the lab's interface, listen and dhcp-range lines around `product` (what
    `manage.py dhcp_config --server dnsmasq` printed), `extra` lines, and TFTP only with `tftp_root`."""
    around = [f"interface={BRIDGE}", "bind-interfaces", f"listen-address={lab.address}", f"dhcp-range={DHCP_RANGE}"]
    tftp = ["enable-tftp", f"tftp-root={tftp_root}"] if tftp_root else []
    return "\n".join([*around, "log-dhcp", product.rstrip("\n"), *extra, *tftp]) + "\n"


@contextlib.contextmanager
def running_dnsmasq(lab: Lab, config: str, *, keep: str) -> Iterator[Path]:
    """dnsmasq in the namespace, DHCP (and TFTP if `config` says) but no DNS (`--port=0`); its log, kept as
    var/`keep`. As root it stays root (`--user=root`): the TFTP root is in a test's 0700 tmp dir."""
    log = KEPT_LOGS / keep
    log.unlink(missing_ok=True)
    conf = lab.workdir / "dnsmasq.conf"
    conf.write_text(config)
    dnsmasq = tool("dnsmasq") or "dnsmasq"
    argv = [dnsmasq, "--keep-in-foreground", f"--conf-file={conf}", "--port=0", "--user=root", "--no-resolv"]
    argv += ["--no-hosts", f"--log-facility={log}", f"--dhcp-leasefile={lab.workdir / 'leases'}"]
    with (lab.workdir / "dnsmasq.stderr").open("wb") as stderr:
        process = subprocess.Popen(lab.command(*argv), stdout=stderr, stderr=stderr)
    try:
        _wait_until(log, "DHCP, sockets bound", process, f"dnsmasq (log {log})")
        yield log
    finally:
        _stop(process)


@contextlib.contextmanager
def namespace_nginx(lab: Lab, tftp_root: Path, *, keep: str) -> Iterator[Path]:
    """nginx in the namespace serving contrib/nginx/pxeimport-boot as shipped on ADDRESS:80 (the TFTP root at
    /), its marked lines set to `tftp_root` and an empty HTTP root; its access log, kept as var/`keep`."""
    http_root = lab.workdir / "http"
    http_root.mkdir(exist_ok=True)
    replacements = (
        ("listen 80;", f"listen {lab.address}:80;"),
        ("/srv/pxeimport/http/", f"{http_root}/"),
        ("/var/lib/tftpboot/", f"{tftp_root}/"),
    )
    access = KEPT_LOGS / keep
    access.unlink(missing_ok=True)
    work = lab.workdir / "nginx"
    work.mkdir(exist_ok=True)
    (work / "site.conf").write_text(site_with(BOOT_SITE, replacements))
    (work / "nginx.conf").write_text(
        f"user root;\ndaemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\nevents {{}}\nhttp {{\n"
        f"  include /etc/nginx/mime.types;\n  access_log {access};\n  client_body_temp_path {work};\n"
        f"  proxy_temp_path {work}/proxy;\n  include {work}/site.conf;\n}}\n"
    )
    nginx = tool("nginx") or "nginx"
    with (work / "stderr").open("wb") as stderr:
        process = subprocess.Popen(lab.command(nginx, "-c", f"{work}/nginx.conf", "-p", str(work)), stderr=stderr)
    try:
        _wait_until(work / "nginx.pid", "", process, f"nginx (see {work}/error.log)")  # written once it listens
        yield access
    finally:
        _stop(process)


@dataclass(frozen=True)
class Node:
    """A QEMU (TCG) machine on its own tap: `firmware` arguments (OVMF's, or [] for SeaBIOS), the text
    that ends its boot (`until`), its serial log's name in var/ (`keep`), its NIC (QEMU's -device,
    without netdev), machine type and other QEMU arguments. `keys`: pairs (text, QEMU key names): once
    the text is on the console the keys are pressed through QEMU's monitor, in order, and `until` is
    looked for only once they all are (as tests/support/qemu.py's boot does)."""

    keep: str
    firmware: Sequence[str]
    until: tuple[str, ...]
    machine: str = "q35"
    nic: str = FIRMWARE_NIC
    extra: Sequence[str] = ()
    keys: Sequence[tuple[str, Sequence[str]]] = ()


@dataclass(frozen=True)
class Booted:
    """What a node wrote on its serial console, the kept log, and the seconds from its QEMU's start to
    the first of its `until` texts (None if none came before it stopped or time ran out)."""

    text: str
    path: Path
    seconds: float | None


@dataclass
class _Running:
    node: Node
    log: Path
    process: subprocess.Popen[bytes]
    monitor: Path
    started: float = field(default_factory=time.monotonic)
    pending: list[tuple[str, Sequence[str]]] = field(default_factory=list)
    seconds: float | None = None
    done: bool = False


def boot_nodes(lab: Lab, nodes: Sequence[Node], *, timeout: float) -> list[Booted]:
    """Start every node at once (each with a fresh MAC, so a fresh lease), poll their serial logs until
    each shows one of its `until` texts, has stopped, or `timeout` seconds have passed; stop them all."""
    qemu = tool("qemu-system-x86_64") or "qemu-system-x86_64"
    KEPT_LOGS.mkdir(exist_ok=True)
    running: list[_Running] = []
    with tempfile.TemporaryDirectory(prefix="netlab-monitors-") as monitors:  # short: a socket path's limit
        try:
            for index, node in enumerate(nodes):
                log, monitor = KEPT_LOGS / node.keep, Path(monitors) / f"{index}.sock"
                log.unlink(missing_ok=True)
                tap, mac = lab.add_tap(), "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
                argv = [
                    qemu, "-machine", f"{node.machine},graphics=off", "-accel", "tcg", "-m", "1536", "-smp", "1",
                    "-display", "none", "-monitor", f"unix:{monitor},server=on,wait=off" if node.keys else "none",
                    "-serial", f"file:{log}", "-no-reboot",
                    "-netdev", f"tap,id=net0,ifname={tap},script=no,downscript=no",
                    "-device", f"{node.nic},netdev=net0,mac={mac},bootindex=0", *node.firmware, *node.extra,
                ]  # fmt: skip
                with (lab.workdir / f"{node.keep}.stderr").open("wb") as stderr:
                    process = subprocess.Popen(lab.command(*argv), stdout=stderr, stderr=stderr)
                running.append(_Running(node, log, process, monitor, pending=list(node.keys)))
            _watch(running, time.monotonic() + timeout)
        finally:
            for each in running:
                each.process.kill()
                each.process.wait(timeout=10)
    results = []
    for each in running:
        text = console_text(each.log)
        if not text:
            said = (lab.workdir / f"{each.node.keep}.stderr").read_text(errors="replace").strip()
            raise LabError(f"QEMU wrote nothing on {each.node.keep}'s console: {said or 'no error either'}")
        results.append(Booted(text, each.log, each.seconds))
    return results


def _watch(running: list[_Running], deadline: float) -> None:
    """Poll the consoles: press each node's keys when their text comes, note when an `until` text comes."""
    while not all(each.done for each in running) and time.monotonic() < deadline:
        time.sleep(0.1)
        for each in (each for each in running if not each.done):
            text = console_text(each.log)
            if each.pending and each.pending[0][0] in text:
                press(each.monitor, each.pending.pop(0)[1])
            elif not each.pending and any(marker in text for marker in each.node.until):
                each.seconds, each.done = time.monotonic() - each.started, True
                each.process.kill()
            elif each.process.poll() is not None:
                each.done = True


def grub_with_http(workdir: Path) -> Path:
    """Debian 12's netboot GRUB as it would be with the http module, which the signed one lacks: grub-mkimage
    with Debian's own grub-efi-amd64-bin modules (apt-get download, cached in var/cache/debs), its prefix,
    GRUB_MODULES. Unsigned, so for nodes with Secure Boot off. Needs grub-mkimage, apt-get and dpkg-deb."""
    deb = demo.cached_deb_named(GRUB_PACKAGE)
    if deb is None:
        demo.apt_download([GRUB_PACKAGE])
        deb = demo.cached_deb_named(GRUB_PACKAGE)
    assert deb is not None, f"apt-get download left no {GRUB_PACKAGE}_*.deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "grub-efi")], check=True)
    image, modules = workdir / "grubx64.efi", workdir / "grub-efi/usr/lib/grub/x86_64-efi"
    sbat = workdir / "sbat.csv"  # the signed GRUB's generations, so the import's Secure Boot check takes it
    sbat.write_text(GRUB_SBAT)
    mkimage = ["grub-mkimage", "-d", str(modules), "-O", "x86_64-efi", "-p", GRUB_PREFIX, "-o", str(image)]
    subprocess.run([*mkimage, "--sbat", str(sbat), *GRUB_MODULES], check=True)
    return image
