"""Secure Boot: whether shim will load the loader set a root serves, judged from the binaries' own SBAT data
(chain), read with a PE parser (pe) and by shim's rules (sbat), before any node tries it.

Imports: lib, tftproot. Django: never.
"""

from __future__ import annotations

from pxeimport.secureboot.chain import SHIM_CHAINS, SHIM_HELPERS, Judgement, judge
from pxeimport.secureboot.grub import grub_modules
from pxeimport.secureboot.pe import PeError, read_section
from pxeimport.secureboot.sbat import SbatEntry, SbatError, SbatLevel, ShimLevels, parse_sbat, parse_sbatlevel
from pxeimport.secureboot.served import served_judgement

__all__ = [
    "SHIM_CHAINS",
    "SHIM_HELPERS",
    "Judgement",
    "PeError",
    "SbatEntry",
    "SbatError",
    "SbatLevel",
    "ShimLevels",
    "grub_modules",
    "judge",
    "parse_sbat",
    "parse_sbatlevel",
    "read_section",
    "served_judgement",
]
