"""Boot menus in two halves: their syntax (syntax.py: pxelinux.cfg and grub.cfg text, kernel options no syntax
can break, command lines that fit, the local-disk entry) and their files in a TFTP root (writer.py: which
entries, written where, remembered how long, with which options), with GRUB's fixed paths beside them
(grubpaths.py: where signed GRUBs look for a grub.cfg, and the line that sends them to pxeimport's menu).

Imports: lib, items, tftproot. Django: never.
"""

from __future__ import annotations

from pxeimport.menus.grubpaths import GRUB_MENU, grub_prefixes
from pxeimport.menus.syntax import (
    HEADER,
    LOCAL_LABEL,
    MAX_MENU_TIMEOUT,
    BadKernelOptions,
    MenuEntry,
    check_entry_fits,
    check_kernel_opts,
    check_label,
    check_menu_timeout,
    grub_config,
    pxelinux_config,
    version_paths,
)
from pxeimport.menus.writer import (
    BOOT_OPTIONS_FILE,
    KERNEL_OPTS_FILE,
    MENU_ENTRIES_FILE,
    MENUS,
    PXELINUX_MENU,
    BootMenus,
    MenuResult,
    MenuSettings,
)

__all__ = [
    "BOOT_OPTIONS_FILE",
    "GRUB_MENU",
    "HEADER",
    "KERNEL_OPTS_FILE",
    "LOCAL_LABEL",
    "MAX_MENU_TIMEOUT",
    "MENUS",
    "MENU_ENTRIES_FILE",
    "PXELINUX_MENU",
    "BadKernelOptions",
    "BootMenus",
    "MenuEntry",
    "MenuResult",
    "MenuSettings",
    "check_entry_fits",
    "check_kernel_opts",
    "check_label",
    "check_menu_timeout",
    "grub_config",
    "grub_prefixes",
    "pxelinux_config",
    "version_paths",
]
