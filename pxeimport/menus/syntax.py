"""Boot menus: pxelinux.cfg/default for BIOS and grub/grub.cfg for UEFI, one entry per release.

Each entry names its kernel and initrd by the immutable version path (`<release>/install-<v>/`),
never through the `install` pointer: a node that read a menu boots the pair that menu named,
however many imports happen during its boot.

Both menus hand the kernel the same options, byte for byte: pxelinux copies its APPEND line
literally, GRUB gets each option as one word its script lexer passes through unchanged
(grub-core/script/yylex.l), and both add `BOOTIF=01-<mac>` (the boot NIC, as pxelinux's
`IPAPPEND 2` writes it) last. A menu whose command line a loader would cut short is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pxeimport.lib import InvalidName

HEADER = "Written by pxeimport's import_pxe_files; the next import rewrites it."
# The entry that hands the node back to its firmware, which boots the next device in its boot order (the
# local disk, for a node that boots from the network first): pxelinux's LOCALBOOT 0 ("perform a normal
# boot", syslinux doc/syslinux.txt, LOCALBOOT), GRUB's `exit` (back to the UEFI boot manager, which tries
# the next Boot#### entry; UEFI 2.10 section 3.1.1). No release may take its label.
LOCAL_LABEL = "local"
# A version dir as menus name it: "<release>/install-<16 hex>".
_VERSION_PATH_RE = re.compile(r"([a-z0-9][a-z0-9.+_-]*/install-[0-9a-f]{16})/")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
# GRUB's loaders put a backslash before each of these when they build the kernel's command line
# (grub-core/lib/cmdline.c, grub_create_loader_cmdline); pxelinux does not, so the kernels would differ.
_ESCAPED_BY_GRUB = "'\"\\"
# Refused since the first menus (the admin's form says so); quoted, GRUB would pass them on too.
_SHELL_SYNTAX = ";$`{}"
# Options the loaders themselves own: pxelinux reads `initrd=` and writes BOOT_IMAGE= and BOOTIF=
# (com32/elflink/ldlinux/kernel.c, readconfig.c); GRUB passes `initrd=` on to the kernel instead.
_LOADER_OPTIONS = ("initrd=", "BOOT_IMAGE=", "BOOTIF=")
# A word GRUB's lexer reads as plain text: no metacharacter ({}|&$;<> quotes \), no comment (#),
# no wildcard (* ?, expanded when the regexp module is loaded), no [[ ]]. Others go in single quotes.
_GRUB_PLAIN = re.compile(r"[A-Za-z0-9._,:/=+%@-]+")

# pxelinux's TIMEOUT is in tenths of a second and at most 35996 (syslinux man/syslinux.1).
MAX_MENU_TIMEOUT = 3599

# The longest command lines the loaders hand a kernel, in characters, BOOT_IMAGE= included.
# pxelinux: ldlinux refuses a label's "<kernel> <append> <ipappend>" of 2048 or more ("cmdline too
# long", com32/elflink/ldlinux/execute.c, MAX_CMDLINE_LEN in com32/include/menu.h), then prepends
# "BOOT_IMAGE=" and cuts the result to the kernel's cmdline_size, NUL included
# (com32/lib/syslinux/load_linux.c): 2047 on x86 (COMMAND_LINE_SIZE 2048), so 2046 characters.
PXELINUX_CMDLINE_MAX = 2046
# GRUB on x86: a buffer of cmdline_size + 1 = 2048 bytes with the NUL; options past it are
# dropped without a word (grub-core/loader/i386/linux.c). arm64 kernels take 4095
# (COMMAND_LINE_SIZE 4096); the x86 figure is kept for every arch, so one check fits all menus.
GRUB_CMDLINE_MAX = 2047
# The longest BOOTIF= pxelinux appends: hardware type and up to MAC_MAX (32) address bytes
# (core/fs/pxe/pxe.c, make_bootif_string; core/fs/pxe/pxe.h).
PXELINUX_LONGEST_BOOTIF = "BOOTIF=ff" + "-ff" * 32
# The menus' GRUB sets BOOTIF only for a 6-byte Ethernet address.
GRUB_LONGEST_BOOTIF = "BOOTIF=01" + "-ff" * 6
# The longest version dir and initrd name an import writes (tftproot's 16 hex digits).
_LONGEST_VERSION_DIR = "install-" + "f" * 16
_LONGEST_INITRD = "initrd.gz"

# BOOTIF=01-<mac> from GRUB's $net_default_mac ("52:54:00:12:34:56", lowercase, colons:
# grub-core/net/net.c, grub_net_hwaddr_to_str), in pxelinux's form ("01-52-54-00-12-34-56"), which
# debian-installer's netcfg (exactly 20 characters after BOOTIF=) and initramfs-tools both read.
# Not set when there is no such address (the regexp command or the variable missing).
_GRUB_BOOTIF = [
    "    unset bootif",
    "    if regexp "
    + " ".join(f"--set={i}:bootif_{i}" for i in range(1, 7))
    + " '^"
    + ":".join(["([0-9a-f][0-9a-f])"] * 6)
    + '$\' "$net_default_mac"; then',
    '        set bootif="BOOTIF=01-' + "-".join(f"$bootif_{i}" for i in range(1, 7)) + '"',
    "    fi",
]


class BadKernelOptions(ValueError):
    """Kernel options a menu cannot pass on as they are, or a command line too long for a loader."""


@dataclass(frozen=True)
class MenuEntry:
    release: str
    version_dir: str  # "install-<version>", inside the release dir
    kernel: str = "linux"
    initrd: str = "initrd.gz"
    kernel_opts: str = ""
    # A release's second entry (e.g. "hwe": the HWE kernel) is labelled "<release>-<suffix>".
    suffix: str = ""
    # What the entry boots, said beside its label when the release's name does not say it ("AlmaLinux 9.5").
    title: str = ""

    @property
    def path(self) -> str:
        return f"{self.release}/{self.version_dir}"

    @property
    def label(self) -> str:
        return f"{self.release}-{self.suffix}" if self.suffix else self.release

    @property
    def says(self) -> str:
        """What the menus say the entry boots: "AlmaLinux 9.5 installer", else "the <label> installer"."""
        return f"{self.title} installer" if self.title else f"the {self.label} installer"


@dataclass(frozen=True)
class CommandLine:
    """The command line one loader hands the kernel for one menu entry, and that loader's limit."""

    loader: str  # "pxelinux" or "GRUB"
    release: str
    text: str
    limit: int
    why: str  # where the limit comes from, for the message


def check_label(release: str) -> str:
    """`release`, unless a menu entry of its own already has that label (InvalidName)."""
    if release == LOCAL_LABEL:
        raise InvalidName(f"release name {release!r} is the label of the menus' local-disk entry")
    return release


def check_kernel_opts(opts: str) -> str:
    """`opts` with white space folded; BadKernelOptions for what a menu cannot pass on unchanged.

    Refused: anything but printable ASCII (a newline would end the menu line), quotes and backslashes
    (GRUB would add backslashes the kernel keeps; pxelinux would not), ; $ ` { } (as always), and
    initrd=, BOOT_IMAGE= and BOOTIF=, which the loaders and menus set. Everything else (& | < > # ? *
    and the rest) reaches the kernel as written, from both menus (grub_word quotes it for GRUB).
    """
    if not _PRINTABLE_ASCII.fullmatch(opts):
        raise BadKernelOptions(f"kernel options {opts!r} may hold printable ASCII only (no tabs, newlines, accents)")
    if found := sorted({c for c in opts if c in _ESCAPED_BY_GRUB}):
        raise BadKernelOptions(
            f"kernel options {opts!r} may not contain {' '.join(found)}: GRUB passes quotes and backslashes "
            "to the kernel with a backslash added and pxelinux without, so the two menus would differ"
        )
    if found := sorted({c for c in opts if c in _SHELL_SYNTAX}):
        raise BadKernelOptions(f"kernel options {opts!r} may not contain {' '.join(found)} (none of ; $ ` {{ }})")
    words = opts.split()
    for word in words:
        if word.startswith(_LOADER_OPTIONS):
            raise BadKernelOptions(
                f"kernel options {opts!r}: {word.split('=')[0]}= is the boot loaders' own (pxelinux reads "
                "initrd= and adds BOOT_IMAGE= and BOOTIF=; GRUB would pass initrd= to the kernel); the menus "
                "already name each release's initrd and pass BOOTIF, so leave it out"
            )
    return " ".join(words)


def check_menu_timeout(seconds: int) -> int:
    """`seconds`; ValueError outside 0..MAX_MENU_TIMEOUT (where pxelinux and GRUB would disagree)."""
    if not 0 <= seconds <= MAX_MENU_TIMEOUT:
        raise ValueError(
            f"a boot menu timeout must be 0 (boot the default at once) to {MAX_MENU_TIMEOUT} seconds, not {seconds}"
        )
    return seconds


def grub_word(word: str) -> str:
    """`word` as GRUB script text GRUB reads back as exactly `word`: plain, or in single quotes.

    Inside single quotes GRUB's lexer takes every character but `'` literally (SQSTR in yylex.l),
    and a quoted word is never wildcard-expanded (grub-core/script/execute.c). check_kernel_opts
    refuses `'`, so single quotes always suffice.
    """
    if "'" in word:
        raise BadKernelOptions(f"{word!r} cannot be passed through GRUB unchanged")
    if _GRUB_PLAIN.fullmatch(word):
        return word
    return f"'{word}'"


def _options(entry: MenuEntry) -> list[str]:
    """The entry's options as the kernel gets them from both menus, before BOOTIF: opts, then ---."""
    return [*check_kernel_opts(entry.kernel_opts).split(), "---"]


def pxelinux_command_line(entry: MenuEntry) -> CommandLine:
    """What pxelinux hands the kernel for `entry`, with the longest BOOTIF it can add."""
    options = " ".join(_options(entry))
    text = (
        f"BOOT_IMAGE={entry.path}/{entry.kernel} initrd={entry.path}/{entry.initrd} {options} {PXELINUX_LONGEST_BOOTIF}"
    )
    why = "it cuts an x86 kernel's command line there, and refuses the entry a little past it"
    return CommandLine("pxelinux", entry.release, text, PXELINUX_CMDLINE_MAX, why)


def grub_command_line(entry: MenuEntry, grub_base: str) -> CommandLine:
    """What GRUB hands the kernel for `entry` (paths from `grub_base`, e.g. "/maas/amd64/base"), with BOOTIF."""
    options = " ".join(_options(entry))
    text = f"BOOT_IMAGE={grub_base}/{entry.path}/{entry.kernel} {options} {GRUB_LONGEST_BOOTIF}"
    why = "it drops the options past it on x86 without a word"
    return CommandLine("GRUB", entry.release, text, GRUB_CMDLINE_MAX, why)


def check_command_lines(lines: Iterable[CommandLine]) -> None:
    """BadKernelOptions naming the first line longer than its loader's limit, the limit, and by how much."""
    for line in lines:
        if len(line.text) > line.limit:
            raise BadKernelOptions(
                f"kernel options for {line.release} make a command line of {len(line.text)} characters, "
                f"counting what the loader adds; {line.loader} hands the kernel at most {line.limit} "
                f"({line.why}): shorten the options by {len(line.text) - line.limit} character(s)"
            )


def check_entry_fits(release: str, kernel_opts: str, grub_base: str) -> None:
    """BadKernelOptions when `kernel_opts` could give `release` a command line a loader cuts or refuses.

    For checks before any download: the longest version dir and initrd name an import writes.
    `grub_base` is the arch's base dir from the TFTP root, e.g. "/maas/amd64/base".
    """
    entry = MenuEntry(release, _LONGEST_VERSION_DIR, initrd=_LONGEST_INITRD, kernel_opts=kernel_opts)
    check_command_lines([pxelinux_command_line(entry), grub_command_line(entry, grub_base)])


def pxelinux_config(entries: Sequence[MenuEntry], default: str, timeout_seconds: int) -> str:
    """A pxelinux.cfg/default beside pxelinux.0; paths are relative to pxelinux's own directory.

    No UI module: pxelinux's built-in prompt works on a serial console and needs no .c32 beyond
    ldlinux.c32. The default boots after the timeout with no key press; with 0 it boots at once
    (PROMPT 0: the prompt only while Shift or Alt is held), as GRUB's `timeout=0` does. `IPAPPEND 2`
    adds BOOTIF=<type>-<mac> of the boot NIC. BadKernelOptions when an entry's command line is too
    long for pxelinux; ValueError for a bad timeout.
    """
    check_menu_timeout(timeout_seconds)
    check_command_lines(pxelinux_command_line(e) for e in entries)
    labels = " ".join([*(e.label for e in entries), LOCAL_LABEL])
    lines = [f"# {HEADER}", f"DEFAULT {default}"]
    if timeout_seconds:
        lines += [
            "PROMPT 1",
            f"TIMEOUT {timeout_seconds * 10}",
            f"SAY pxeimport: booting {default} in {timeout_seconds} s; type a label and Enter to choose: {labels}",
        ]
    else:
        lines += ["PROMPT 0", f"SAY pxeimport: booting {default}; hold Shift for a prompt to choose: {labels}"]
    # SAY is run as pxelinux reads it, wherever it stands (inside a LABEL too), so what each entry
    # boots is said once, up front, as a list; never as a "Booting ..." line in each LABEL.
    lines += [f"SAY   {entry.label}: {entry.says} ({entry.version_dir})" for entry in entries]
    lines.append(f"SAY   {LOCAL_LABEL}: the local disk (the next device in the boot order)")
    for entry in entries:
        append = " ".join([f"initrd={entry.path}/{entry.initrd}", *_options(entry)])
        lines += [
            "",
            f"LABEL {entry.label}",
            f"  KERNEL {entry.path}/{entry.kernel}",
            f"  APPEND {append}",
            "  IPAPPEND 2",
        ]
    lines += ["", f"LABEL {LOCAL_LABEL}", "  LOCALBOOT 0"]
    return "\n".join(lines) + "\n"


def grub_config(entries: Sequence[MenuEntry], default: str, timeout_seconds: int, base: str) -> str:
    """A grub/grub.cfg; GRUB resolves paths from the TFTP root, so they start with `base`.

    Each option is one GRUB word (grub_word); `$bootif` comes last, so when it is unset it adds
    nothing (an empty unquoted variable makes no argument). BadKernelOptions when an entry's command
    line is too long for GRUB; ValueError for a bad timeout.
    """
    check_menu_timeout(timeout_seconds)
    check_command_lines(grub_command_line(e, base) for e in entries)
    names = [*(e.label for e in entries), LOCAL_LABEL]
    index = names.index(default) if default in names else 0
    lines = [f"# {HEADER}", f"set default={index}", f"set timeout={timeout_seconds}"]
    for entry in entries:
        words = " ".join(grub_word(w) for w in _options(entry))
        lines += [
            "",
            f"menuentry '{_grub_title(entry)}' {{",
            *_GRUB_BOOTIF,
            f"    linux {base}/{entry.path}/{entry.kernel} {words} $bootif",
            f"    initrd {base}/{entry.path}/{entry.initrd}",
            "}",
        ]
    lines += ["", f"menuentry '{LOCAL_LABEL}: the local disk (the next boot entry)' {{", "    exit", "}"]
    return "\n".join(lines) + "\n"


def _grub_title(entry: MenuEntry) -> str:
    """GRUB's entry title: "<label> installer (<version dir>)", with what it boots when the label does not say it."""
    if entry.title:
        return f"{entry.label}: {entry.title} installer ({entry.version_dir})"
    return f"{entry.label} installer ({entry.version_dir})"


def version_paths(menu: str) -> set[str]:
    """The "<release>/install-<v>" dirs a menu names (to keep them while nodes may still read it)."""
    return set(_VERSION_PATH_RE.findall(menu))
