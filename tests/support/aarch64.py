"""QEMU aarch64 (TCG, machine virt) network-boots a TFTP root: AAVMF UEFI firmware, Debian's real arm64
netboot files, the PL011 serial console's text.

tests/support/qemu.py does the same for x86-64 (OVMF, SeaBIOS); this module is its arm64 counterpart, kept
apart so that the x86 helpers stay as they are. The arm64 netboot package is fetched with apt-get and cached
in var/cache/ by tools/demo.py's own helpers (its fetch_debs and netboot_files take amd64 and i386 only,
and netboot_files insists on pxelinux.0, which arm64 has not), so the same cache serves the demo and these
tests.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.qemu import KEPT_LOGS, SerialLog, console_text
from tests.support.requirements import require_file, require_tool
from tools import demo

ARCH = "arm64"
# Debian's qemu-efi-aarch64: UEFI for QEMU's virt machine, its images already padded to the 64 MiB of each
# of virt's two flash banks (QEMU 7.2 refuses any other size: "device requires 67108864 bytes"). There is
# one code image (AAVMF_CODE.ms.fd and .snakeoil.fd are links to it): the variables decide. AAVMF_VARS.fd
# enrolls no keys, so Secure Boot is off; AAVMF_VARS.ms.fd enrolls Microsoft's KEK and db (which signs
# Debian's shim) with Secure Boot on, as on an arm64 server off the shelf.
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
AAVMF_MS_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.ms.fd")
FLASH_SIZE = 64 << 20
# The first line an arm64 kernel prints (its EFI stub's lines come before, on the firmware's console).
ARM64_KERNEL_STARTED = ("Booting Linux on physical CPU", "Linux version")


@pytest.fixture(scope="module")
def debian_netboot_arm64() -> dict[str, Path]:
    """The regular files of Debian 12's arm64 netboot directory (text installer): linux, initrd.gz, the
    signed shim bootnetaa64.efi and the signed GRUB grubaa64.efi, grub/grub.cfg and GRUB's modules."""
    require_tool("apt-get")
    require_tool("dpkg-deb")
    return netboot_files_arm64()


def netboot_files_arm64() -> dict[str, Path]:
    """The arm64 package's netboot files, from var/cache/ or `apt-get download` (an "all" package: any host
    can fetch it), extracted once into var/cache/netboot/arm64/."""
    demo.DEB_CACHE.mkdir(parents=True, exist_ok=True)
    if demo.cached_deb(ARCH) is None:
        demo.apt_download([demo.package_name(ARCH)])
    deb = demo.cached_deb(ARCH)
    if deb is None:
        raise demo.DemoError(f"apt-get download reported success but left no {demo.package_name(ARCH)}_*.deb")
    directory = demo.extract(deb, ARCH) / demo.netboot_subdir(ARCH)
    files = demo.regular_files(directory)
    absent = sorted({"linux", "initrd.gz", "grubaa64.efi"} - set(files))
    if absent:
        raise demo.DemoError(f"{deb.name}'s netboot directory lacks {', '.join(absent)}")
    return files


def aavmf_firmware(tmp_path: Path, *, secure_boot: bool = False) -> list[str]:
    """QEMU's arguments for AAVMF: its code read-only, and a writable copy of its variables (the firmware
    writes its boot options there at every start), each padded to the flash bank's size if it is not.
    With `secure_boot`, the variables with Microsoft's keys and Secure Boot on (unlike OVMF's Secure Boot
    build, no SMM: virt has none, and a test need not keep the variables from the OS)."""
    template = AAVMF_MS_VARS if secure_boot else AAVMF_VARS
    require_file(AAVMF_CODE, "qemu-efi-aarch64")
    require_file(template, "qemu-efi-aarch64")
    code = AAVMF_CODE
    if code.stat().st_size != FLASH_SIZE:
        code = _padded(AAVMF_CODE, tmp_path / AAVMF_CODE.name)
    variables = _padded(template, tmp_path / template.name)
    return [
        "-drive", f"if=pflash,format=raw,readonly=on,file={code}",
        "-drive", f"if=pflash,format=raw,file={variables}",
    ]  # fmt: skip


def _padded(image: Path, copy: Path) -> Path:
    """A copy of `image` at `copy`, grown with zeros to FLASH_SIZE."""
    shutil.copyfile(image, copy)
    with copy.open("r+b") as flash:
        flash.truncate(max(FLASH_SIZE, image.stat().st_size))
    return copy


def boot_aarch64(
    tftp_root: Path,
    *,
    keep: str,
    bootfile: str,
    firmware: list[str],
    timeout: float,
    until: tuple[str, ...] = ARM64_KERNEL_STARTED,
    capture: Path | None = None,
) -> SerialLog:
    """Run an arm64 UEFI machine that boots from its NIC until a whole line with one of `until` reaches the
    serial log, or `timeout` (seconds); the log, kept as var/`keep`.

    QEMU's user networking answers DHCP with `bootfile` and serves `tftp_root` by TFTP. The machine has
    no disk, and its only NIC (virtio-net-pci, no option ROM: AAVMF's own virtio-net driver does PXE) has
    bootindex 0, so the firmware's first boot option is PXE over IPv4 whatever it would pick by default.
    virt's first PL011 is the serial console: the firmware, GRUB and (with console=ttyAMA0) the kernel
    write to it. `capture`: a pcap file of the NIC's traffic, the start of each frame (see dhcp_options
    and tftp_reads), to tell what the firmware asked DHCP and which files were read.
    """
    qemu = require_tool("qemu-system-aarch64")
    log = KEPT_LOGS / keep
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    # TCG: some 35 s from power-on to the kernel's banner (firmware, TFTP, GRUB's 5 s menu). -cpu max and
    # cortex-a57 took as long; the time goes to the firmware and the transfers, not the CPU model.
    command = [
        qemu, "-machine", "virt", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1",
        "-display", "none", "-monitor", "none", "-serial", f"file:{log}", "-no-reboot",
        "-netdev", f"user,id=net0,tftp={tftp_root},bootfile={bootfile}",
        "-device", "virtio-net-pci,netdev=net0,romfile=,bootindex=0", *firmware,
    ]  # fmt: skip
    if capture is not None:
        command += ["-object", f"filter-dump,id=dump0,netdev=net0,file={capture},maxlen={CAPTURED_BYTES}"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    text = ""
    try:
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(1)
            text = console_text(log)
            if any(_line_shown(text, marker) for marker in until):
                break
    finally:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    if not text and stderr:
        raise AssertionError(f"QEMU failed: {stderr.decode(errors='replace')}")
    return SerialLog(console_text(log), log)


def _line_shown(text: str, marker: str) -> bool:
    """Whether `marker` is on the console and its line complete (the rest of the line is in the log too)."""
    at = text.find(marker)
    return at >= 0 and "\n" in text[at:]


# What the capture keeps of each frame: all of a DHCP or TFTP request (EDK2's DHCPDISCOVER is some 400
# bytes), not the 1.5 kB of each TFTP data block (the kernel and initrd are 73 MB).
CAPTURED_BYTES = 1024
DHCP_SERVER_PORT = 67
TFTP_PORT = 69
_DHCP_MAGIC = b"\x63\x82\x53\x63"


def _udp_payloads(pcap: Path, port: int) -> Iterator[bytes]:
    """The payload of each captured IPv4 UDP datagram sent to `port`, in order (QEMU writes libpcap's
    classic little-endian format with Ethernet frames)."""
    data = pcap.read_bytes()
    magic, link_type = struct.unpack_from("<I16xI", data)
    assert magic == 0xA1B2C3D4 and link_type == 1, f"{pcap}: not a little-endian Ethernet pcap"
    offset = 24
    while offset + 16 <= len(data):
        (kept,) = struct.unpack_from("<8xI4x", data, offset)
        frame = data[offset + 16 : offset + 16 + kept]
        offset += 16 + kept
        if frame[12:14] != b"\x08\x00" or len(frame) < 34 or frame[23] != socket.IPPROTO_UDP:
            continue
        udp = frame[14 + (frame[14] & 0x0F) * 4 :]
        if len(udp) >= 8 and struct.unpack_from(">2xH", udp)[0] == port:
            yield udp[8:]


def dhcp_options(pcap: Path) -> list[dict[int, bytes]]:
    """The options of each DHCP request a client sent (BOOTREQUEST to port 67), in order: {code: value}."""
    found = []
    for bootp in _udp_payloads(pcap, DHCP_SERVER_PORT):
        if bootp[:1] != b"\x01" or bootp[236:240] != _DHCP_MAGIC:
            continue
        options, at = {}, 240
        while at < len(bootp) and bootp[at] != 255:
            if bootp[at] == 0:  # padding
                at += 1
                continue
            length = bootp[at + 1]
            options[bootp[at]] = bootp[at + 2 : at + 2 + length]
            at += 2 + length
        found.append(options)
    return found


def tftp_reads(pcap: Path) -> list[str]:
    """The file name of each TFTP read request (RRQ, opcode 1) sent to port 69, in order."""
    return [
        payload[2:].split(b"\0", 1)[0].decode(errors="replace")
        for payload in _udp_payloads(pcap, TFTP_PORT)
        if payload[:2] == b"\x00\x01"
    ]
