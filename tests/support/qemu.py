"""QEMU (TCG) PXE-boots a TFTP root: OVMF firmware, Debian's real netboot files, the serial console's text."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.requirements import require_file, require_tool
from tools import demo

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# Debian's ovmf: the Secure Boot build, and variables with Microsoft's KEK and db enrolled and Secure Boot on.
OVMF_SECURE_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OVMF_MS_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
KERNEL_STARTED = "Linux version"
# A NIC driven by OVMF's own network stack (virtio-net driver, PXE and HTTP boot), no iPXE option ROM: as a
# PC's firmware. (With QEMU's iPXE ROM, iPXE boots the shim first, and the shim's fetch of grubx64.efi through
# iPXE's PXE base code fails, "Malformed binary after Attribute Certificate Table": rhboot/shim issue 760.)
FIRMWARE_NIC = "virtio-net-pci,romfile="
# What the installer's first screen prints on the serial console (its language question).
INSTALLER_STARTED = ("Choose language", "Select a language", "Debian installer main menu")
# Each boot's serial log is kept here (overwritten by the next run of the same test) for a look after a failure.
KEPT_LOGS = Path(__file__).resolve().parents[2] / "var"


@pytest.fixture(scope="module")
def debian_netboot() -> dict[str, Path]:
    """The regular files of Debian 12's amd64 netboot directory."""
    require_tool("apt-get")
    require_tool("dpkg-deb")
    debs = demo.fetch_debs()
    files: dict[str, Path] = demo.netboot_files({"amd64": debs["amd64"]})["amd64"]
    return files


def ovmf_firmware(tmp_path: Path, *, secure_boot: bool = False) -> list[str]:
    """QEMU's arguments for OVMF with a writable copy of its variables: UEFI without Secure Boot, or with
    Secure Boot on and Microsoft's keys enrolled (as on a PC off the shelf; needs the q35 machine)."""
    code, template = (OVMF_SECURE_CODE, OVMF_MS_VARS) if secure_boot else (OVMF_CODE, OVMF_VARS)
    require_file(code, "ovmf")
    require_file(template, "ovmf")
    variables = tmp_path / template.name
    shutil.copyfile(template, variables)
    # The Secure Boot build keeps its variables safe in SMM: the flash is writable from SMM only.
    smm = ["-machine", "smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"] if secure_boot else []
    return [
        *smm,
        "-drive", f"if=pflash,format=raw,readonly=on,file={code}",
        "-drive", f"if=pflash,format=raw,file={variables}",
    ]  # fmt: skip


@dataclass(frozen=True)
class SerialLog:
    """What a booted machine wrote on its serial console, and where the log is kept for a look afterwards."""

    text: str
    path: Path


# Terminal control sequences a firmware's serial console writes between the characters it prints
# (SeaBIOS/iPXE move the cursor, e.g. "bookwor\x1b[25;26H\x1b[25;27Hm"): CSI with its parameters, and
# two-character escapes. They are not text, so they are taken out before a test looks for text.
CONTROL_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78cDEHM])")


def console_text(log: Path) -> str:
    """The serial log as text a person would read on the console: control sequences taken out."""
    return CONTROL_SEQUENCE.sub("", log.read_text(errors="replace")) if log.exists() else ""


def typed(text: str) -> list[str]:
    """QEMU `sendkey` names that type `text` (lower-case letters, digits, "-", "." and Enter as "\\n")."""
    names = {"-": "minus", ".": "dot", "\n": "ret", " ": "spc"}
    return [names.get(char, char) for char in text]


def boot(
    tftp_root: Path,
    *,
    keep: str,
    bootfile: str,
    firmware: list[str],
    timeout: float,
    until: tuple[str, ...] = INSTALLER_STARTED,
    machine: str = "pc",
    nic: str = "e1000",
    keys: Sequence[tuple[str, Sequence[str]]] = (),
    disk: Path | None = None,
) -> SerialLog:
    """Run QEMU until one of `until` reaches the serial log, or `timeout` (seconds); the log, kept as var/`keep`.

    `nic` is QEMU's -device for the network card (its own options after a comma). `keys` are pairs of
    (text, key names): once the text is on the console, the keys are pressed on the machine's keyboard
    through QEMU's monitor (`sendkey`); the pairs are taken in order. `disk`: a raw image as the machine's
    first disk, booted after the network (boot order n, then c), as on a node that network-boots first.
    """
    qemu = require_tool("qemu-system-x86_64")
    log = KEPT_LOGS / keep
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="qemu-monitor-") as scratch:
        monitor = Path(scratch) / "monitor.sock"
        command = [
            qemu, "-machine", f"{machine},graphics=off", "-accel", "tcg", "-m", "1536", "-smp", "1",
            "-display", "none", "-monitor", f"unix:{monitor},server=on,wait=off" if keys else "none",
            "-serial", f"file:{log}", "-no-reboot",
            "-netdev", f"user,id=net0,tftp={tftp_root},bootfile={bootfile}",
            "-device", f"{nic},netdev=net0", "-boot", "order=nc" if disk else "n", *firmware,
        ]  # fmt: skip
        if disk is not None:
            command += ["-drive", f"file={disk},format=raw,if=ide,index=0"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        pending = list(keys)
        text = ""
        try:
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2 if pending else 1)
                text = console_text(log)
                if pending and pending[0][0] in text:
                    press(monitor, pending.pop(0)[1])
                elif any(marker in text for marker in until):
                    break
        finally:
            process.kill()
            _, stderr = process.communicate(timeout=10)
    assert process.returncode is not None
    if not text and stderr:
        raise AssertionError(f"QEMU failed: {stderr.decode(errors='replace')}")
    return SerialLog(console_text(log), log)


def press(monitor: Path, keys: Sequence[str]) -> None:
    """Press `keys` (QEMU key names) one after the other through the monitor's socket."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(str(monitor))
        connection.settimeout(10)
        for key in keys:
            connection.sendall(f"sendkey {key}\n".encode())
            time.sleep(0.3)  # a key's press and release (100 ms) and the loader's poll between keys


# A BIOS boot sector that writes MARKER to the first serial port and halts: the "installed system" of a
# node's local disk. Real-mode code, hand-assembled: cli; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8;
# next: lodsb; test al,al; jz done; out dx,al; jmp next; done: hlt; jmp done; msg: MARKER, CR, LF, 0.
LOCAL_DISK_MARKER = "pxeimport test disk: booted from the local disk"
_BOOT_CODE = bytes.fromhex("fa31c08ed8be167cbaf803ac84c07403eeebf8f4ebfd")


def local_disk(path: Path) -> Path:
    """A 1 MiB raw disk whose MBR boot code prints LOCAL_DISK_MARKER on the serial console."""
    sector = _BOOT_CODE + LOCAL_DISK_MARKER.encode() + b"\r\n\0"
    assert len(_BOOT_CODE) == 0x16 and len(sector) <= 510  # the code's `mov si` points at 0x7c16
    path.write_bytes(sector.ljust(510, b"\0") + b"\x55\xaa" + bytes((1 << 20) - 512))
    return path


def command_line(text: str) -> str:
    """The kernel command line a booted kernel printed ("Command line: ..."); fails the test when it printed none."""
    lines = [line for line in text.splitlines() if "Command line: " in line]
    assert lines, "the kernel did not print its command line"
    return lines[0].split("Command line: ", 1)[1]
