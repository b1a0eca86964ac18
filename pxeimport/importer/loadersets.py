"""What a new pre-boot loader set must pass before it replaces the served one: every file a node's DHCP
may name is still there, and shim will load what is served beside it with Secure Boot on
(pxeimport.secureboot). A set that fails raises LayoutError: it is not installed and the served set stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pxeimport.items import Item
from pxeimport.layouts import LayoutError
from pxeimport.secureboot import SHIM_HELPERS, judge
from pxeimport.tftproot import TftpRoot


def check_kept(root: TftpRoot, item: Item, names: set[str]) -> None:
    """LayoutError when the new loader set lacks a file the served set has that DHCP may name: every node
    whose DHCP names it would get "file not found", so the served set stays until the operator accepts the
    change. MokManager and the fallback are never DHCP's boot file: their absence is the Secure Boot
    judgement's to report."""
    lost = sorted(root.served_loaders(item.arch) - names - SHIM_HELPERS)
    if lost:
        raise LayoutError(
            f"the new {item.arch} loader set (from {item.release}) lacks {', '.join(lost)}, which the served set "
            "has: nodes booting them would get 'file not found'. Check the DHCP server's boot file names, "
            "then run import_pxe_files --accept-loader-change to serve the new set"
        )


def check_chain(item: Item, files: Mapping[str, Path]) -> None:
    """LayoutError naming each refusal (the GRUB's and the shim's SBAT lines) when a Secure Boot node would
    stop in the new set; called with the verified files before they are installed."""
    refusals = judge(files).refusals
    if refusals:
        raise LayoutError(
            f"the new {item.arch} loader set is refused, for Secure Boot nodes: {'; '.join(refusals)}. "
            "It waits until the upstream publishes a shim and GRUB that go together"
        )
