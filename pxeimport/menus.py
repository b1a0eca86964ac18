"""Boot menus: pxelinux.cfg/default for BIOS and grub/grub.cfg for UEFI, one entry per release.

Each entry names its kernel and initrd by the immutable version path (`<release>/install-<v>/`),
never through the `install` pointer: a node that read a menu boots the pair that menu named,
however many imports happen during its boot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = "Written by pxeimport's import_pxe_files; the next import rewrites it."
# A version dir as menus name it: "<release>/install-<16 hex>".
_VERSION_PATH_RE = re.compile(r"([a-z0-9][a-z0-9.+_-]*/install-[0-9a-f]{16})/")
# Printable ASCII without quotes or backslashes: safe inside both menu syntaxes.
_OPTS_RE = re.compile(r"^[\x20-\x7e]*$")


class BadKernelOptions(ValueError):
    """Kernel options that could break out of a menu line."""


@dataclass(frozen=True)
class MenuEntry:
    release: str
    version_dir: str  # "install-<version>", inside the release dir
    kernel: str = "linux"
    initrd: str = "initrd.gz"
    kernel_opts: str = ""

    @property
    def path(self) -> str:
        return f"{self.release}/{self.version_dir}"


def check_kernel_opts(opts: str) -> str:
    """`opts` with white space folded; BadKernelOptions for control characters, quotes, \\ or ;."""
    if not _OPTS_RE.fullmatch(opts) or any(c in opts for c in "\"'\\;$`{}"):
        raise BadKernelOptions(
            f"kernel options {opts!r} may hold printable ASCII only, without quotes, backslashes, ; $ ` {{ }}"
        )
    return " ".join(opts.split())


def _append(entry: MenuEntry, initrd: str) -> str:
    return " ".join(filter(None, [initrd, check_kernel_opts(entry.kernel_opts), "---"]))


def pxelinux_config(entries: Sequence[MenuEntry], default: str, timeout_seconds: int) -> str:
    """A pxelinux.cfg/default beside pxelinux.0; paths are relative to pxelinux's own directory.

    No UI module: pxelinux's built-in prompt works on a serial console and needs no .c32 beyond
    ldlinux.c32. The default boots after the timeout with no key press.
    """
    labels = " ".join(e.release for e in entries)
    lines = [
        f"# {HEADER}",
        f"DEFAULT {default}",
        "PROMPT 1",
        f"TIMEOUT {max(1, timeout_seconds * 10)}",
        f"SAY pxeimport: booting {default} in {timeout_seconds} s; type a label and Enter to choose: {labels}",
    ]
    for entry in entries:
        lines += [
            "",
            f"LABEL {entry.release}",
            f"  SAY Booting the {entry.release} installer ({entry.version_dir})",
            f"  KERNEL {entry.path}/{entry.kernel}",
            f"  APPEND {_append(entry, f'initrd={entry.path}/{entry.initrd}')}",
        ]
    return "\n".join(lines) + "\n"


def grub_config(entries: Sequence[MenuEntry], default: str, timeout_seconds: int, base: str) -> str:
    """A grub/grub.cfg; GRUB resolves paths from the TFTP root, so they start with `base`."""
    names = [e.release for e in entries]
    index = names.index(default) if default in names else 0
    lines = [f"# {HEADER}", f"set default={index}", f"set timeout={timeout_seconds}"]
    for entry in entries:
        lines += [
            "",
            f"menuentry '{entry.release} installer ({entry.version_dir})' {{",
            f"    linux {base}/{entry.path}/{entry.kernel} {_append(entry, '')}",
            f"    initrd {base}/{entry.path}/{entry.initrd}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def version_paths(menu: str) -> set[str]:
    """The "<release>/install-<v>" dirs a menu names (to keep them while nodes may still read it)."""
    return set(_VERSION_PATH_RE.findall(menu))
