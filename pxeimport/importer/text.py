"""What an import tells its operator, as text: one line per item, the dry run's table, the summary.

Pure functions of results, so each wording is tested without running an import. The command
decides where each line goes (stdout or stderr) and its colour, from the `Line.tone`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pxeimport.items import ItemKind, ItemResult, Outcome
from pxeimport.lib import megabytes
from pxeimport.menus import MenuResult

Tone = Literal["plain", "success", "notice", "warning", "error"]


@dataclass(frozen=True)
class Line:
    text: str
    tone: Tone = "plain"

    @property
    def is_error(self) -> bool:
        return self.tone == "error"

    @property
    def to_stderr(self) -> bool:
        """Errors and warnings go to stderr, so cron mails them even at -v0."""
        return self.tone in ("error", "warning")


def item_lines(result: ItemResult, verbosity: int) -> list[Line]:
    """An item's lines as it finishes: failures always, changes at -v1, everything at -v2, files at -v3."""
    if result.outcome == Outcome.FAILED:
        return [Line(f"{result.item} failed: {result.message}", "error")]
    lines = []
    if result.repaired:  # at every verbosity: something damaged what nodes boot from
        how = "damaged, a real run repairs it" if result.outcome == Outcome.PLANNED else "repaired"
        lines.append(Line(f"{result.item}: {how}: {result.repaired}", "error"))
    if result.outcome == Outcome.INSTALLED and verbosity >= 1:
        was = f" (was {result.previous_version})" if result.previous_version else ""
        if result.repaired and result.previous_version == result.version:
            was = " again, rebuilt from verified files"  # not "(was <the same version>)"
        lines.append(Line(f"{result.item}: installed {result.version}{was}", "success"))
    elif result.outcome == Outcome.SKIPPED and verbosity >= 1:
        lines.append(Line(f"{result.item}: skipped, {result.message}", "notice"))
    elif result.outcome == Outcome.UNCHANGED and verbosity >= 2:
        lines.append(Line(f"{result.item}: unchanged ({result.version})"))
    if verbosity >= 3:
        for f in result.files:
            how = "downloaded" if f.downloaded else "kept"
            lines.append(Line(f"    {f.name} {f.sha256} {f.size} bytes, {how}, from {f.url}"))
    return lines


# What a run does besides installing, in the present tense (a dry run's "would ...") and the past.
DONE = {
    "retire": "retired",
    "remove": "removed",
    "clear": "cleared",
    "open": "opened",
    "keep": "kept",
    "restore": "put back",
}


def change_text(verb: str, what: str, why: str = "", *, dry: bool) -> str:
    """One line for a change a run makes (or, `dry`, would make) besides installing an item:
    "removed amd64/buster: <why>", "would remove amd64/buster: <why>". `verb` is a key of DONE."""
    said = f"would {verb} {what}" if dry else f"{DONE[verb]} {what}"
    return f"{said}: {why}" if why else said


def what_stays(result: ItemResult) -> str:
    """What a failed item leaves served, from `result.kept` (read from the root): its old version, or nothing."""
    item = result.item
    if result.kept:
        return f"kept {result.kept}, which is still served"
    if item.kind == ItemKind.LOADER:
        return f"nothing was installed before; no pre-boot loader is served for {item.arch}"
    return f"nothing was installed before; nothing is served for {item.arch}/{item.release}"


def failure_summary(results: Sequence[ItemResult]) -> str:
    """ "N of M items failed; " and what the failed ones leave served, counted from their `kept`."""
    failed = [r for r in results if r.outcome == Outcome.FAILED]
    kept = sum(1 for r in failed if r.kept)
    parts = []
    if kept:
        parts.append(f"{kept} still serve{'s' if kept == 1 else ''} what was installed before")
    if len(failed) - kept:
        none = len(failed) - kept
        parts.append(f"{none} had nothing installed before, so nothing is served for {'it' if none == 1 else 'them'}")
    return f"{len(failed)} of {len(results)} items failed; {', '.join(parts)}"


def menu_change(menu: MenuResult) -> str:
    """What a run did (or, dry, would do) to an arch's menus, "" when nothing: "amd64 boot menus: wrote …"."""
    if menu.error or not menu.changed:
        return ""
    verb = ("would remove" if menu.dry else "removed") if menu.removed else ("would write" if menu.dry else "wrote")
    default = "" if menu.removed else f" (default {menu.default})"
    return f"{menu.arch} boot menus: {verb} {', '.join(menu.changed)}{default}"


def menu_lines(menu: MenuResult, verbosity: int) -> list[Line]:
    """A menu's error, or its warnings (at every verbosity), or what was written (-v1) or checked (-v2)."""
    if menu.error:
        return [Line(menu.error, "error")]
    if menu.warnings:
        return [Line(f"Warning: {warning}", "warning") for warning in menu.warnings]
    if menu.changed and verbosity >= 1:
        return [Line(menu_change(menu), "success")]
    if verbosity >= 2 and menu.releases:
        return [Line(f"{menu.arch} boot menus: unchanged")]
    return []


def dry_run_table(results: Sequence[ItemResult]) -> list[str]:
    """The plan as aligned columns (ITEM, INSTALLED, UPSTREAM, TO FETCH, ACTION) and a total line.

    A failed item's row does not repeat its error: item_lines says it, on stderr, at every verbosity.
    Sizes come from each file's HEAD answer; one unknown size makes the item's and the total unknown.
    """
    rows = [("ITEM", "INSTALLED", "UPSTREAM", "TO FETCH", "ACTION")]
    total: int | None = 0
    for r in results:
        size = "-"
        if r.outcome == Outcome.PLANNED:
            fetch = ", ".join(f.name for f in r.to_download) or "nothing (reuse installed files)"
            action = f"install; fetch {fetch}"
            sizes = [f.size for f in r.to_download]
            known = None if None in sizes else sum(s or 0 for s in sizes)
            size = "unknown" if known is None else megabytes(known)
            total = None if total is None or known is None else total + known
        elif r.outcome == Outcome.FAILED:
            action = "failed (the error is below, on stderr)"  # said once, where cron and -v0 see it
        else:
            action = r.outcome.value + (f": {r.message}" if r.message else "")
        rows.append((str(r.item), r.previous_version or "-", r.version or "-", size, action))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[4]]) for row in rows]
    lines.append(f"Would fetch {'an unknown amount' if total is None else megabytes(total)}.")
    return lines


def summary(results: Sequence[ItemResult], pulled: int, seconds: float, *, dry: bool) -> str:
    """ "N installed, N unchanged, N skipped, N failed; X MB downloaded in S s." (dry: "N to install")."""
    count = {o: sum(1 for r in results if r.outcome == o) for o in Outcome}
    done = f"{count[Outcome.PLANNED]} to install" if dry else f"{count[Outcome.INSTALLED]} installed"
    return (
        f"{'Dry run: ' if dry else ''}{done}, {count[Outcome.UNCHANGED]} unchanged, "
        f"{count[Outcome.SKIPPED]} skipped, {count[Outcome.FAILED]} failed; "
        f"{megabytes(pulled)} downloaded in {seconds:.1f} s."
    )
