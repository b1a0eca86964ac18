"""What a run does besides installing items, done or (a dry run) only said: one code path for both.

After the items: retire what the saved selection no longer names (pxeimport.importer.retirement), delete
superseded version dirs past the grace period (loaders' too), drop partial downloads no item
wants, delete HTTP root files (kept ISOs) nothing names any more, and give tftpd's user a way in.
Before them: clear what a crashed run left in staging. Each step is the real one called with
`dry`, so a dry run says exactly what a real run would do to the disk (the wording:
text.change_text). No Django here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pxeimport.importer.downloads import Downloads
from pxeimport.importer.retirement import Retired, retire_unselected, unmark_served
from pxeimport.importer.text import change_text
from pxeimport.items import Item, ItemKind, ItemResult, Outcome
from pxeimport.lib import InvalidName, describe_os_error
from pxeimport.menus import BootMenus
from pxeimport.tftproot import HttpRoot, Slot, TftpRoot, UnsafePath, open_up, tftp_texts

log = logging.getLogger(__name__)


@dataclass
class Housekeeping:
    """The importer's parts the clean-up reads; `slot_of` names an item's place in the root."""

    root: TftpRoot
    menus: BootMenus
    downloads: Downloads
    slot_of: Callable[[Item], Slot]
    http_root: HttpRoot | None = None
    # Version dir names clean-up must keep besides the menus' (a region's published ones).
    protect: Callable[[Slot], frozenset[str]] | None = None

    def before(self, *, dry: bool) -> list[str]:
        """Leftovers of a crashed run in staging, and modes tftpd could not get through."""
        said = []
        leftovers = self.root.clean_staging(dry=dry)
        if leftovers:
            said.append(
                change_text("clear", "maas/.staging/", f"{leftovers} leftover entries of an earlier run", dry=dry)
            )
        return said + self.open_up(dry=dry)

    def unmark_served(self, served: Sequence[Item]) -> list[str]:
        """A narrowed run's served items are no longer retired (retirement.unmark_served), a line each; errors
        are logged."""
        try:
            return unmark_served(self.root, served)
        except (OSError, UnsafePath, InvalidName) as exc:
            log.warning("could not take retirement marks away: %s", exc)
            return []

    def retire(
        self, items: Sequence[Item], now: float, *, dry: bool, gone: list[Path], pending: Iterable[tuple[str, str]]
    ) -> Retired:
        """Retire what `items` do not name (retirement.retire_unselected); a disk error is said, not raised."""
        try:
            return retire_unselected(self.root, items, now, dry=dry, gone=gone, pending=pending)
        except (OSError, UnsafePath) as exc:
            return Retired([f"could not retire what the selection no longer names: {exc}"])

    def after(self, results: Sequence[ItemResult], now: float, *, dry: bool, gone: list[Path]) -> list[str]:
        """Superseded version dirs, partials and HTTP root files; `gone`: what retiring deleted (or would)."""
        removed = self.collect_garbage(results, now, dry=dry)
        said = [change_text("remove", self._shown(p), "superseded, past the grace period", dry=dry) for p in removed]
        # An item that failed early (its index unreachable) named no file: keep its partials.
        wanted: set[str] | None = None
        if not any(r.outcome == Outcome.FAILED for r in results):
            planned = {f.sha256 for r in results if r.outcome == Outcome.PLANNED for f in r.to_download}
            wanted = planned if dry else set(self.downloads.wanted_hashes)
        try:
            for path in self.downloads.clean_partials(wanted, dry=dry):
                said.append(change_text("remove", self._shown(path), "a partial download no item wants", dry=dry))
            if self.http_root is not None:
                named = self.http_root.named(tftp_texts(self.root.maas, [*gone, *removed]))
                for path in self.http_root.collect_garbage(named, now, dry=dry):
                    why = "no menu or kept version names it, past the grace period"
                    said.append(change_text("remove", str(path), why, dry=dry))
        except OSError as exc:
            log.warning(
                "could not clean partial downloads or the HTTP root (below %s): %s",
                self.root.path,
                describe_os_error(exc, self.root.path),
            )
        return said

    def open_up(self, *, dry: bool) -> list[str]:
        opened = open_up(self.root, dry=dry)
        if not opened:
            return []
        what = f"{len(opened)} path(s) to the TFTP server's user (o+x, o+r)"
        return [change_text("open", what, f"e.g. {opened[0]}", dry=dry)]

    def collect_garbage(self, results: Sequence[ItemResult], now: float, *, dry: bool) -> list[Path]:
        """Superseded version dirs of the items imported (or, dry, planned or unchanged) past the grace period."""
        protected: dict[str, set[str]] = {}
        removed: list[Path] = []
        for result in results:
            if result.outcome not in (Outcome.INSTALLED, Outcome.UNCHANGED, Outcome.PLANNED):
                continue
            item = result.item
            slot = self.slot_of(item)
            try:
                keep: frozenset[str] = frozenset()
                if item.kind == ItemKind.INSTALL:
                    if item.arch not in protected:
                        protected[item.arch] = self.menus.protected(item.arch, now)
                    prefix = f"{item.release}/"
                    keep = frozenset(p.removeprefix(prefix) for p in protected[item.arch] if p.startswith(prefix))
                if self.protect is not None:
                    keep |= self.protect(slot)
                swapping = result.outcome == Outcome.PLANNED  # its install would restart the grace period
                removed += self.root.collect_garbage(slot, now, keep, dry=dry, swapping=swapping)
            except OSError as exc:
                log.warning("could not clean %s: %s", slot.parent, describe_os_error(exc, self.root.path))
        return removed

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(self.root.path)) if path.is_relative_to(self.root.path) else str(path)
