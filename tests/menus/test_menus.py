"""Boot menus: their text, and how imports write them and keep what they name.

Every grub.cfg these tests make or find is run through GRUB's own parser (`grub-script-check`),
and the kernel command line both menus give is compared word for word: pxelinux's APPEND is
literal, GRUB's linux line is read the way GRUB's lexer (grub-core/script/yylex.l) reads it.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pxeimport.layouts.debian_installer import NetbootIndex
from pxeimport.menus.syntax import (
    GRUB_CMDLINE_MAX,
    MAX_MENU_TIMEOUT,
    PXELINUX_CMDLINE_MAX,
    BadKernelOptions,
    MenuEntry,
    check_entry_fits,
    check_kernel_opts,
    grub_command_line,
    grub_config,
    pxelinux_command_line,
    pxelinux_config,
    version_paths,
)
from pxeimport.menus.writer import _title
from tests.support.grub import grub_accepts
from tests.support.qemu import boot, debian_netboot, ovmf_firmware  # noqa: F401 (a fixture)
from tests.support.tree import base, install_dir
from tools.archive import ArchiveTree, netboot_files
from tools.pe import stand_in_grub, stand_in_shim

BASE = "/maas/amd64/base"
BOOTING_NODES = Path(__file__).resolve().parents[2] / "docs" / "operator" / "booting-nodes.md"
ENTRIES = [
    MenuEntry("bookworm", "install-0123456789abcdef", kernel_opts="console=ttyS0,115200"),
    MenuEntry("trixie", "install-fedcba9876543210"),
]
# The report: a preseed URL with a query string stopped every UEFI node at `grub>`.
PRESEED_URL = "url=http://host/p.cfg?host=n1&role=web"


def grub_cfg(entries: Sequence[MenuEntry], default: str = "trixie", timeout: int = 3, base: str = BASE) -> str:
    """grub_config's text, checked by grub-script-check: every menu test makes its grub.cfg here."""
    return grub_accepts(grub_config(entries, default, timeout, base))


def every_grub_cfg_accepted(tftp_root: Path) -> list[Path]:
    """Every grub.cfg an import wrote under `tftp_root` (menus and redirects), each checked by GRUB's parser."""
    found = sorted(tftp_root.rglob("grub.cfg"))
    for path in found:
        grub_accepts(path.read_text())
    return found


# yylex.l: CHAR, what an unquoted word may hold; a word starting with # is a comment to the line's end.
_GRUB_CHAR = re.compile(r"[^{}|&$;<> \t\n'\"\\]")


def grub_words(line: str) -> list[str]:
    """The words GRUB's lexer makes of `line`, for plain words and '…' (anything else fails the test)."""
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        if line[i] == "#":
            break
        word = ""
        while i < len(line) and line[i] != " ":
            if line[i] == "'":
                end = line.index("'", i + 1)
                word, i = word + line[i + 1 : end], end + 1
            else:
                assert _GRUB_CHAR.fullmatch(line[i]), f"GRUB reads {line[i]!r} in {line!r} as syntax"
                assert line[i] not in "*?", f"GRUB may expand the wildcard {line[i]!r} in {line!r}"
                word, i = word + line[i], i + 1
        words.append(word)
    return words


def grub_kernel_args(text: str, release: str) -> str:
    """What GRUB hands `release`'s kernel after its path, BOOTIF left out (grub_create_loader_cmdline)."""
    entry = text.split(f"menuentry '{release} ")[1].split("\n}")[0]
    line = next(x.strip() for x in entry.splitlines() if x.strip().startswith("linux "))
    assert line.endswith(" $bootif")
    words = grub_words(line.removesuffix(" $bootif"))[2:]
    # GRUB's loader puts a backslash before each \ ' " (grub-core/lib/cmdline.c).
    return " ".join(re.sub(r"([\\'\"])", r"\\\1", w) for w in words)


def pxelinux_kernel_args(text: str, release: str) -> str:
    """What pxelinux hands `release`'s kernel after BOOT_IMAGE=, initrd= and IPAPPEND's BOOTIF left out."""
    label = text.split(f"LABEL {release}\n")[1].split("\nLABEL ")[0]
    assert "  IPAPPEND 2" in label.splitlines()
    append = next(x for x in label.splitlines() if x.startswith("  APPEND "))
    words = append.removeprefix("  APPEND ").split(" ")
    assert words[0].startswith("initrd=")
    return " ".join(words[1:])


def both_menus_give(opts: str) -> str:
    """The options both menus give the kernel for an entry with `opts`; the test fails if they differ."""
    entries = [MenuEntry("bookworm", "install-0123456789abcdef", kernel_opts=opts)]
    pxelinux = pxelinux_kernel_args(pxelinux_config(entries, "bookworm", 5), "bookworm")
    grub = grub_kernel_args(grub_cfg(entries, "bookworm"), "bookworm")
    assert grub == pxelinux
    return pxelinux


def test_the_pxelinux_menu_names_kernels_by_version_path_and_boots_the_default_after_the_timeout():
    text = pxelinux_config(ENTRIES, "trixie", 5)
    assert "DEFAULT trixie\nPROMPT 1\nTIMEOUT 50\n" in text
    assert "KERNEL bookworm/install-0123456789abcdef/linux" in text
    assert "APPEND initrd=bookworm/install-0123456789abcdef/initrd.gz console=ttyS0,115200 ---\n" in text
    assert "APPEND initrd=trixie/install-fedcba9876543210/initrd.gz ---\n" in text
    assert "/install/" not in text


def test_the_pxelinux_menu_says_what_each_entry_boots_once_before_its_labels_since_pxelinux_runs_say_as_it_reads():
    text = pxelinux_config(ENTRIES, "trixie", 5)
    labels_start = text.index("\nLABEL ")
    says = [line for line in text.splitlines() if line.lstrip().startswith("SAY ")]
    assert all(text.index(line) < labels_start for line in says), "a SAY inside a LABEL is printed for every entry"
    assert "SAY   bookworm: the bookworm installer (install-0123456789abcdef)" in says
    assert "SAY   trixie: the trixie installer (install-fedcba9876543210)" in says
    assert not any("Booting" in line for line in says)


def test_an_entry_with_a_title_says_what_it_boots_beside_its_label_in_both_menus():
    entry = MenuEntry("9", "install-0123456789abcdef", "linux", "initrd", title="AlmaLinux 9.5")
    assert "SAY   9: AlmaLinux 9.5 installer (install-0123456789abcdef)" in pxelinux_config([entry], "9", 5)
    grub = grub_cfg([entry], "9", 5)
    assert "menuentry '9: AlmaLinux 9.5 installer (install-0123456789abcdef)' {" in grub


@pytest.mark.parametrize("title", ["Alma'Linux", "a\nLABEL x", "9 $(reboot)", "x" * 49, " leading blank"])
def test_a_listed_title_a_menu_could_not_show_as_written_is_left_out_and_the_entry_kept(title):
    assert _title({"kernel": "linux", "initrd": "initrd", "title": title}) == ""
    assert _title({"kernel": "linux", "initrd": "initrd", "title": "Fedora 41-1.4"}) == "Fedora 41-1.4"


def test_the_grub_menu_uses_paths_from_the_tftp_root_and_selects_the_default_by_index():
    text = grub_cfg(ENTRIES, "trixie", 3)
    assert "set default=1\nset timeout=3\n" in text
    assert "linux /maas/amd64/base/bookworm/install-0123456789abcdef/linux console=ttyS0,115200 --- $bootif" in text
    assert "initrd /maas/amd64/base/trixie/install-fedcba9876543210/initrd.gz" in text


def test_version_paths_finds_every_version_dir_a_menu_names():
    assert version_paths(pxelinux_config(ENTRIES, "trixie", 5)) == {
        "bookworm/install-0123456789abcdef",
        "trixie/install-fedcba9876543210",
    }
    assert version_paths(grub_cfg(ENTRIES)) == version_paths(pxelinux_config(ENTRIES, "trixie", 5))


# Item 1: options GRUB's lexer would read as syntax reach the kernel as written, from both menus.
@pytest.mark.parametrize(
    "opts",
    [
        PRESEED_URL,
        "console=ttyS0,115200 " + PRESEED_URL + " priority=critical",
        "a|b c&&d x>y <z",
        "#not-a-comment x#y",
        "a(b) (c)",
        "glob=* what?",
        "[[ ]] a[1]",
        "~user !x %41 a=b=c",
        "if then fi function",
        "---",
    ],
)
def test_options_grub_would_read_as_syntax_reach_the_kernel_unchanged_from_both_menus(opts):
    assert both_menus_give(opts) == f"{check_kernel_opts(opts)} ---"


# Item 1: what GRUB cannot pass unchanged is refused with the reason.
@pytest.mark.parametrize("bad", ["x='y'", 'x="a b"', "a\\b", "url=http://h/it's"])
def test_quotes_and_backslashes_are_refused_because_grub_would_escape_them(bad):
    with pytest.raises(BadKernelOptions, match="GRUB passes quotes and backslashes"):
        check_kernel_opts(bad)


@pytest.mark.parametrize("bad", ["quiet; reboot", "x=$HOME", "`cmd`", "{a}"])
def test_shell_syntax_stays_refused_as_the_admin_form_says(bad):
    with pytest.raises(BadKernelOptions, match="none of ; \\$ ` \\{ \\}"):
        check_kernel_opts(bad)


@pytest.mark.parametrize("bad", ["a\nKERNEL /evil", "a\tb", "\x00", "caf\u00e9", "x\x7f"])
def test_kernel_options_that_could_break_out_of_a_menu_line_are_refused(bad):
    with pytest.raises(BadKernelOptions, match="printable ASCII only"):
        check_kernel_opts(bad)


def test_kernel_options_have_their_white_space_folded():
    assert check_kernel_opts("  console=ttyS0   quiet ") == "console=ttyS0 quiet"


# Quotes, backslashes and ; $ ` { } are refused (above); leaving them out keeps the examples from being thrown away.
_OPTION_CHARS = st.sampled_from(
    string.ascii_letters[:6]
    + string.digits[:3]
    + string.punctuation.translate(str.maketrans("", "", "'\"\\;$`{}"))
    + "   "
)


@settings(max_examples=200, deadline=None)
@given(opts=st.text(_OPTION_CHARS, max_size=60))
def test_any_options_the_check_accepts_give_a_grub_cfg_grub_parses_and_the_same_kernel_command_line(opts):
    try:
        check_kernel_opts(opts)
    except BadKernelOptions:
        assume(False)
    # both_menus_give runs grub-script-check on the grub.cfg and compares the two menus' options.
    assert both_menus_give(opts).split() == [*opts.split(), "---"]


# Item 2: a command line a loader would cut or refuse is refused first, naming the limit.
def _opts_of_length(n: int) -> str:
    return "x" * n


def _pxelinux_overhead(entry: MenuEntry) -> int:
    """The characters pxelinux adds around options (a one-character option, less that character)."""
    one = MenuEntry(entry.release, entry.version_dir, entry.kernel, entry.initrd, kernel_opts="x")
    return len(pxelinux_command_line(one).text) - 1


def test_the_longest_command_line_pxelinux_takes_is_written_and_one_character_more_is_refused():
    entry = ENTRIES[1]
    fits = _opts_of_length(PXELINUX_CMDLINE_MAX - _pxelinux_overhead(entry))
    assert len(pxelinux_command_line(MenuEntry(entry.release, entry.version_dir, kernel_opts=fits)).text) == 2046
    pxelinux_config([MenuEntry(entry.release, entry.version_dir, kernel_opts=fits)], "trixie", 5)

    too_long = [MenuEntry(entry.release, entry.version_dir, kernel_opts=fits + "x")]
    with pytest.raises(BadKernelOptions) as caught:
        pxelinux_config(too_long, "trixie", 5)
    assert "2047 characters" in str(caught.value)
    assert "pxelinux hands the kernel at most 2046" in str(caught.value)
    assert "shorten the options by 1 character(s)" in str(caught.value)


def test_an_append_line_that_looped_in_the_report_is_refused_and_a_shorter_one_written():
    # The report: an APPEND of ~2,030 characters looped on "cmdline too long" (~1,970 booted, without
    # IPAPPEND). Room is now kept for the longest BOOTIF= pxelinux can add (32 address bytes).
    def append_of(length: int) -> MenuEntry:
        prefix = len("initrd=trixie/install-fedcba9876543210/initrd.gz  ---")
        return MenuEntry("trixie", "install-fedcba9876543210", kernel_opts=_opts_of_length(length - prefix))

    assert "APPEND " in pxelinux_config([append_of(1880)], "trixie", 5)
    with pytest.raises(BadKernelOptions, match="at most 2046"):
        pxelinux_config([append_of(2030)], "trixie", 5)


def test_a_release_named_bookworm_has_room_for_the_1834_characters_of_options_the_readme_promises():
    check_entry_fits("bookworm", "x" * 1834, BASE)
    with pytest.raises(BadKernelOptions, match=r"2047 characters.*pxelinux hands the kernel at most 2046"):
        check_entry_fits("bookworm", "x" * 1835, BASE)
    assert "For a\nrelease named `bookworm` that leaves 1834 characters of options." in BOOTING_NODES.read_text()


def test_grubs_limit_is_checked_on_its_own_command_line():
    long_base = "/" + "b" * 300
    entry = MenuEntry("trixie", "install-fedcba9876543210", kernel_opts=_opts_of_length(1800))
    assert len(pxelinux_command_line(entry).text) <= PXELINUX_CMDLINE_MAX
    assert len(grub_command_line(entry, long_base).text) > GRUB_CMDLINE_MAX
    with pytest.raises(BadKernelOptions, match="GRUB hands the kernel at most 2047"):
        grub_config([entry], "trixie", 5, long_base)


@given(length=st.integers(min_value=1800, max_value=2100))
def test_the_check_before_any_download_refuses_whatever_a_menu_would_refuse(length):
    opts = _opts_of_length(length)
    try:
        check_entry_fits("trixie", opts, BASE)
    except BadKernelOptions:
        return
    for initrd in ("initrd.gz", "initrd"):
        entry = MenuEntry("trixie", "install-0123456789abcdef", initrd=initrd, kernel_opts=opts)
        pxelinux_config([entry], "trixie", 5)
        grub_config([entry], "trixie", 5, BASE)


# Item 6: every accepted timeout means the same in both menus; the others are refused.
@pytest.mark.parametrize("seconds", [1, 5, 90, MAX_MENU_TIMEOUT])
def test_a_timeout_waits_the_same_seconds_in_both_menus(seconds):
    pxelinux = pxelinux_config(ENTRIES, "trixie", seconds)
    assert f"PROMPT 1\nTIMEOUT {seconds * 10}\n" in pxelinux  # tenths of a second
    assert f"set timeout={seconds}\n" in grub_cfg(ENTRIES, "trixie", seconds)


def test_a_timeout_of_zero_boots_the_default_at_once_in_both_menus():
    pxelinux = pxelinux_config(ENTRIES, "trixie", 0)
    # PROMPT 0 and no TIMEOUT: pxelinux boots the default unless Shift or Alt is held (TIMEOUT 0
    # would wait for ever); GRUB's timeout=0 boots the default at once.
    assert "PROMPT 0\n" in pxelinux
    assert "TIMEOUT" not in pxelinux
    assert "set timeout=0\n" in grub_cfg(ENTRIES, "trixie", 0)


@pytest.mark.parametrize("seconds", [-1, MAX_MENU_TIMEOUT + 1])
def test_a_timeout_the_menus_would_read_differently_is_refused(seconds):
    with pytest.raises(ValueError, match=f"0 .* to {MAX_MENU_TIMEOUT} seconds, not {seconds}"):
        pxelinux_config(ENTRIES, "trixie", seconds)
    with pytest.raises(ValueError, match=f"not {seconds}"):
        grub_config(ENTRIES, "trixie", seconds, BASE)


@pytest.mark.slow
@pytest.mark.parametrize("value", ["-1", "3600"])
def test_the_menu_timeout_setting_is_checked_at_start_up(value):
    from tests.support.settings import import_settings

    result = import_settings(PXEIMPORT_MENU_TIMEOUT=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: PXEIMPORT_MENU_TIMEOUT must be 0 (boot the default at once) to 3599" in result.stderr
    assert f"not {value}" in result.stderr


# Item 7: options the loaders own are refused, with the reason.
@pytest.mark.parametrize("word", ["initrd=/evil.gz", "BOOT_IMAGE=x", "BOOTIF=01-aa-bb-cc-dd-ee-ff"])
def test_options_the_boot_loaders_set_themselves_are_refused(word):
    with pytest.raises(BadKernelOptions, match=f"{word.split('=')[0]}= is the boot loaders' own"):
        check_kernel_opts(f"quiet {word}")


def test_an_option_merely_ending_in_initrd_is_accepted():
    assert check_kernel_opts("noinitrd=1 my.initrd=x") == "noinitrd=1 my.initrd=x"


# Item 8: both menus pass the boot NIC as BOOTIF=01-<mac>, last, as pxelinux's IPAPPEND 2 writes it.
def test_grub_passes_the_boot_nic_in_pxelinuxs_bootif_format():
    text = grub_cfg(ENTRIES)
    mac = "52:54:00:ab:0c:56"  # $net_default_mac: lowercase, colon-separated (grub_net_hwaddr_to_str)
    pattern = re.search(r"if regexp (.*) '([^']*)' \"\$net_default_mac\"; then", text)
    assert pattern is not None
    sets = dict(s.removeprefix("--set=").split(":") for s in pattern.group(1).split())
    match = re.fullmatch(pattern.group(2), mac)  # POSIX ERE; this one reads the same in Python
    assert match is not None
    variables = {name: match.group(int(number)) for number, name in sets.items()}
    template = re.search(r'set bootif="([^"]*)"', text)
    assert template is not None
    bootif = re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], template.group(1))

    # pxelinux's make_bootif_string: "BOOTIF=%02x" of the hardware type, then "-%02x" per byte.
    assert bootif == "BOOTIF=01" + "".join(f"-{int(b, 16):02x}" for b in mac.split(":"))
    assert len(bootif.removeprefix("BOOTIF=")) == 20  # what debian-installer's netcfg accepts
    assert re.fullmatch(pattern.group(2), "") is None  # no address, no BOOTIF
    # Every installer entry; not the local-disk entry, which boots no kernel.
    assert text.count("unset bootif") == text.count("menuentry ") - 1 == 2


def test_pxelinux_appends_the_boot_nic_to_every_entry():
    text = pxelinux_config(ENTRIES, "trixie", 5)
    # Every installer entry; not the local-disk entry, which boots no kernel.
    assert text.count("\n  IPAPPEND 2\n") == text.count("\nLABEL ") - 1 == 2


# Item 10: 32-bit UEFI loaders the i386 archive lists are installed.
def test_the_i386_indexs_32_bit_uefi_loaders_are_among_the_loader_files():
    netboot = "netboot/debian-installer/i386"
    names = ("pxelinux.0", "bootnetia32.efi", "grubia32.efi")
    index = NetbootIndex(
        "http://example.org/images/", "i386", "debian-installer", {f"{netboot}/{n}": "0" * 64 for n in names}
    )
    assert [f.name for f in index.loader_files()] == list(names)


pytestmark = pytest.mark.django_db
ARGS = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "trixie")


def test_an_import_writes_both_menus_naming_each_release_by_its_live_version(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("b1", uefi=True))
    archive.publish("trixie", "amd64", netboot_files("t1", uefi=True))

    result = import_pxe(*ARGS, "--kernel-opts", f"console=ttyS0,115200 {PRESEED_URL}")

    assert result.code == 0, result.stderr
    assert "amd64 boot menus: wrote pxelinux.cfg/default, grub/grub.cfg (default trixie)" in result.stdout
    pxelinux = (base(tftp_root, "amd64") / "pxelinux.cfg" / "default").read_text()
    for release in ("bookworm", "trixie"):
        live = os.readlink(install_dir(tftp_root, "amd64", release))
        assert f"KERNEL {release}/{live}/linux" in pxelinux
    grub = (base(tftp_root, "amd64") / "grub" / "grub.cfg").read_text()
    assert "/maas/amd64/base/trixie/install-" in grub
    for release in ("bookworm", "trixie"):
        assert grub_kernel_args(grub, release) == pxelinux_kernel_args(pxelinux, release)
        assert pxelinux_kernel_args(pxelinux, release) == f"console=ttyS0,115200 {PRESEED_URL} ---"
    assert len(every_grub_cfg_accepted(tftp_root)) == 3  # the menu and GRUB's two fixed paths
    for name in ("bootnetx64.efi", "grubx64.efi"):
        assert (base(tftp_root, "amd64") / name).read_bytes() == netboot_files("t1", uefi=True)[name]


def test_an_i386_import_installs_the_32_bit_uefi_loaders_and_points_grub_at_its_menu(archive, import_pxe, tftp_root):
    files = netboot_files("i1") | {"bootnetia32.efi": stand_in_shim(b"ia32"), "grubia32.efi": stand_in_grub(b"ia32")}
    archive.publish("bookworm", "i386", files)

    result = import_pxe("--arch", "i386", "--release", "bookworm", "--current-release", "bookworm")

    assert result.code == 0, result.stderr
    for name in ("bootnetia32.efi", "grubia32.efi"):
        assert (base(tftp_root, "i386") / name).read_bytes() == files[name]
    every_grub_cfg_accepted(tftp_root)
    debian = (tftp_root / "debian-installer" / "i386" / "grub" / "grub.cfg").read_text()
    assert "configfile /maas/i386/base/grub/grub.cfg" in debian
    assert '"$grub_cpu" = "i386"' in (tftp_root / "grub" / "grub.cfg").read_text()


def test_an_unchanged_import_leaves_the_menus_untouched(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("b1"))
    archive.publish("trixie", "amd64", netboot_files("t1"))
    assert import_pxe(*ARGS).code == 0
    menu = base(tftp_root, "amd64") / "pxelinux.cfg" / "default"
    before = (menu.stat().st_ino, menu.stat().st_mtime_ns)

    assert import_pxe(*ARGS).code == 0

    assert (menu.stat().st_ino, menu.stat().st_mtime_ns) == before
    every_grub_cfg_accepted(tftp_root)


def test_a_version_named_by_a_replaced_menu_outlives_it_by_the_grace_period(archive, import_pxe, tftp_root, settings):
    settings.PXEIMPORT_GRACE_SECONDS = 3600
    archive.publish("bookworm", "amd64", netboot_files("b1"))
    archive.publish("trixie", "amd64", netboot_files("t1"))
    assert import_pxe(*ARGS).code == 0
    first = os.readlink(install_dir(tftp_root, "amd64", "trixie"))
    for tag in ("t2", "t3", "t4"):  # three imports during one node's boot
        archive.publish("trixie", "amd64", netboot_files(tag))
        assert import_pxe(*ARGS).code == 0

    old = install_dir(tftp_root, "amd64", "trixie").parent / first
    assert (old / "linux").read_bytes() == netboot_files("t1")["linux"]
    assert (old / "initrd.gz").read_bytes() == netboot_files("t1")["initrd.gz"]


def test_a_release_named_like_a_menu_directory_is_refused(archive, import_pxe):
    result = import_pxe("--arch", "amd64", "--release", "grub", "--current-release", "grub")
    assert result.code == 2
    assert "reserved" in result.stderr


def test_grubs_fixed_config_paths_lead_to_the_arches_menus(archive, import_pxe, tftp_root):
    archive.publish("bookworm", "amd64", netboot_files("b1", uefi=True))
    archive.publish("trixie", "amd64", netboot_files("t1", uefi=True))
    assert import_pxe(*ARGS).code == 0

    debian = (tftp_root / "debian-installer" / "amd64" / "grub" / "grub.cfg").read_text()
    assert "configfile /maas/amd64/base/grub/grub.cfg" in debian
    ubuntu = (tftp_root / "grub" / "grub.cfg").read_text()
    assert 'if [ "$grub_cpu" = "x86_64" ]; then configfile /maas/amd64/base/grub/grub.cfg; fi' in ubuntu
    every_grub_cfg_accepted(tftp_root)


def test_an_operators_own_grub_cfg_at_those_paths_is_left_alone(archive, import_pxe, tftp_root):
    own = tftp_root / "grub" / "grub.cfg"
    own.parent.mkdir(parents=True)
    own.write_text("menuentry 'my own' { true }\n")
    archive.publish("bookworm", "amd64", netboot_files("b1"))
    archive.publish("trixie", "amd64", netboot_files("t1"))

    assert import_pxe(*ARGS).code == 0

    assert own.read_text() == "menuentry 'my own' { true }\n"


# Real loaders in QEMU (slow): Debian 12's pxelinux and signed GRUB boot the real kernel, whose first
# lines on the serial console show the command line it got. QEMU's NIC has the MAC 52:54:00:12:34:56.
QEMU_BOOTIF = "BOOTIF=01-52-54-00-12-34-56"


@pytest.fixture
def root_with_preseed_url(request, tmp_path, signer, archive_server, import_pxe, tftp_root) -> Path:
    # The archive_server fixture serves tmp_path/"archive": lay Debian 12's real netboot files out there.
    tree = ArchiveTree(tmp_path / "archive", installer_dir="debian-installer", signer=signer)
    tree.publish("bookworm", "amd64", request.getfixturevalue("debian_netboot"))
    opts = f"console=ttyS0,115200 {PRESEED_URL}"
    result = import_pxe(
        "--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm", "--kernel-opts", opts
    )
    assert result.code == 0, result.stderr
    every_grub_cfg_accepted(tftp_root)
    root: Path = tftp_root
    return root


def kernel_command_line(text: str, keep: Path) -> str:
    """The "Command line:" the kernel printed (x86 setup_arch), after BOOT_IMAGE=<path>."""
    lines = [line for line in text.splitlines() if "Command line: " in line]
    assert lines, f"the kernel did not print its command line; see {keep}"
    return lines[0].split("Command line: ", 1)[1].split(" ", 1)[1].strip()


@pytest.mark.slow
def test_a_bios_node_chainloaded_from_ipxe_with_option_210_boots_the_options_and_its_nic(root_with_preseed_url):
    # The iPXE lines of docs/operator/booting-nodes.md: option 210 tells pxelinux where it came from (ldlinux.c32).
    script = "#!ipxe\ndhcp\nset 210:string tftp://${next-server}/maas/amd64/base/\nchain ${210:string}pxelinux.0\n"
    (root_with_preseed_url / "chain.ipxe").write_text(script)
    log = boot(
        root_with_preseed_url, keep="qemu-ipxe-chain-serial.log", bootfile="chain.ipxe", firmware=[], timeout=240,
        until=("Kernel command line:",),
    )  # fmt: skip
    text, keep = log.text, log.path
    assert "pxeimport: booting bookworm" in text, f"pxelinux did not show the menu; see {keep}"
    assert kernel_command_line(text, keep).startswith("initrd=bookworm/install-"), f"see {keep}"
    assert kernel_command_line(text, keep).endswith(f"console=ttyS0,115200 {PRESEED_URL} --- {QEMU_BOOTIF}")


@pytest.mark.slow
def test_a_uefi_node_boots_the_options_grub_would_read_as_syntax_and_its_nic(root_with_preseed_url, tmp_path):
    firmware = ovmf_firmware(tmp_path)
    log = boot(
        root_with_preseed_url, keep="qemu-uefi-opts-serial.log", bootfile="maas/amd64/base/grubx64.efi",
        firmware=firmware, timeout=300, machine="q35", until=("Kernel command line:",),
    )  # fmt: skip
    text, keep = log.text, log.path
    assert "bookworm installer (install-" in text, f"GRUB did not show the generated menu; see {keep}"
    # The same options and BOOTIF as pxelinux gives, with no initrd= (GRUB loads the initrd itself).
    assert kernel_command_line(text, keep) == f"console=ttyS0,115200 {PRESEED_URL} --- {QEMU_BOOTIF}"
