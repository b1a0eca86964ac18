"""The boot menus of a TFTP root: which entries, written where, remembered how long.

`menus.py` says what a menu says (pxelinux's and GRUB's syntax, the option checks); this module
decides the entries from what is installed, writes each arch's `pxelinux.cfg/default` and
`grub/grub.cfg` atomically, keeps the history that lets clean-up spare what a replaced menu named
for the grace period, and writes the GRUB redirects at the fixed paths signed GRUBs read.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Mapping, Sequence, Set
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pxeimport.items import Item, ItemKind
from pxeimport.lib import remove_debris, write_atomic
from pxeimport.menus.grubpaths import GRUB_CPUS, GRUB_MENU, follow_line, follows, grub_prefixes
from pxeimport.menus.syntax import (
    HEADER,
    LOCAL_LABEL,
    BadKernelOptions,
    MenuEntry,
    check_kernel_opts,
    grub_config,
    pxelinux_config,
    version_paths,
)
from pxeimport.tftproot import MAAS_DIR, RESERVED, RETIRED_MARK, TftpRoot, UnsafePath

log = logging.getLogger(__name__)

PXELINUX_MENU = "pxelinux.cfg/default"
MENUS = (PXELINUX_MENU, GRUB_MENU)
assert {m.split("/")[0] for m in MENUS} <= RESERVED  # no release may take a menu's directory name
# Per arch: when each replaced menu was replaced and which version dirs it named.
MENU_HISTORY = ".menu-history.json"
# Written into a version dir by layouts whose entries need options of their own (Wanted.boot_options).
BOOT_OPTIONS_FILE = "boot-options"
# Written into a version dir by layouts whose release has several entries (Wanted.entries): a JSON list of
# {"suffix", "kernel", "initrd"}; an entry whose files the version dir lacks is left out.
MENU_ENTRIES_FILE = "menu-entries.json"
# Beside a release's version dirs: the kernel options its entries got when a run last planned it, so a run
# that does not plan it (narrowed on the command line, or keeping it while retiring waits) writes the same.
KERNEL_OPTS_FILE = ".kernel-opts"
_SUFFIX_RE = re.compile(r"[a-z0-9]{0,16}")
# A title both menus show as written: inside GRUB's single quotes and on a pxelinux SAY line.
_TITLE_RE = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9 ._+-]{0,47})?")
# Menu files bigger than this are not read for the version dirs they name (no menu is near it).
MAX_MENU_BYTES = 1 << 20


@dataclass(frozen=True)
class MenuSettings:
    timeout_seconds: int = 5
    # When set, every menu entry this run writes gets these options instead of the saved ones.
    kernel_opts: str | None = None
    # The entry booted after the timeout: LOCAL_LABEL (the local disk), an entry's label, or "" for the
    # current release's entry (PXEIMPORT_MENU_DEFAULT). A label an arch's menu lacks leaves that menu on "".
    default: str = ""


@dataclass
class MenuResult:
    """The boot menus of one arch after a run ("all" for the GRUB redirects)."""

    arch: str
    changed: list[str]
    default: str = ""
    releases: list[str] = field(default_factory=list)
    error: str = ""
    # Said on every run, without failing it: e.g. another grub.cfg that signed GRUBs read first.
    warnings: list[str] = field(default_factory=list)
    # `changed` were removed, not written (no selected release of the arch is installed).
    removed: bool = False
    # A dry run's: `changed` would be written (or removed); nothing was.
    dry: bool = False


class BootMenus:
    def __init__(self, root: TftpRoot, settings: MenuSettings | None = None) -> None:
        self.root = root
        self.settings = settings or MenuSettings()

    def write(
        self,
        items: Sequence[Item],
        now: float,
        *,
        only_planned: bool = False,
        pending: Mapping[tuple[str, str], str] | None = None,
        held: Set[tuple[str, str]] = frozenset(),
    ) -> list[MenuResult]:
        """Rewrite every planned arch's menus from what is installed now, then the GRUB redirects.

        `only_planned`: entries for the planned releases only (a run from the saved selection: the
        others are retired, pxeimport.importer.retirement); else for every installed release, planned first.
        A failure is reported in its MenuResult (the previous menus stay), never raised.
        `pending`: a dry run's planned installs, {(arch, release): version}: nothing is written, and
        each result says which menus a real run would write or remove (theirs as if installed).
        `held`: (arch, release) the retirement keeps on the menus although unplanned (retirement's held).
        """
        arches = dict.fromkeys(i.arch for i in items)
        results = [self._write_arch(items, arch, now, only_planned, pending, held) for arch in arches]
        if pending is not None:
            return results
        try:
            self.write_grub_redirects()
            stale = self.foreign_grub_configs()
        except (OSError, UnsafePath) as exc:
            results.append(MenuResult("all", [], error=f"GRUB's fixed grub.cfg paths: {exc}"))
        else:
            for warning in stale:
                log.warning("%s", warning)
            if stale:
                results.append(MenuResult("all", [], warnings=stale))
        return results

    def _write_arch(
        self,
        items: Sequence[Item],
        arch: str,
        now: float,
        only_planned: bool = False,
        pending: Mapping[tuple[str, str], str] | None = None,
        held: Set[tuple[str, str]] = frozenset(),
    ) -> MenuResult:
        """One entry per installed release, by version path; planned releases first, in plan order."""
        dry = pending is not None
        try:
            installed = self.root.installed_releases(arch)
            installed |= {r: f"install-{v}" for (a, r), v in (pending or {}).items() if a == arch}
            planned = {i.release: i for i in items if i.arch == arch and i.kind == ItemKind.INSTALL}
            if only_planned:
                installed = {r: v for r, v in installed.items() if r in planned or (arch, r) in held}
            else:  # a narrowed run: never back on the menus what a retiring run took off them
                installed = {r: v for r, v in installed.items() if not self._retired(arch, r)}
            if not installed:
                # Nothing the selection names is installed (yet): menus of retired releases must go,
                # or they would name files the grace period then deletes.
                removed = self.remove_files(arch, now, dry=dry) if only_planned else []
                return MenuResult(arch, removed, removed=True, dry=dry)
            order = [r for r in planned if r in installed] + sorted(set(installed) - set(planned))
            entries = [e for r in order for e in self._entries(arch, r, installed[r], planned.get(r))]
            loaders = [i for i in items if i.arch == arch and i.kind == ItemKind.LOADER]
            default = loaders[0].release if loaders and loaders[0].release in installed else order[0]
            warnings = []
            chosen = self.settings.default
            if chosen == LOCAL_LABEL or chosen in {e.label for e in entries}:
                default = chosen
            elif chosen:
                warnings.append(
                    f"{arch} boot menus: PXEIMPORT_MENU_DEFAULT is {chosen!r}, which they do not offer "
                    f"(they offer {', '.join([*(e.label for e in entries), LOCAL_LABEL])}); the default stays {default}"
                )
            base = "/" + self.root.base_dir(arch).relative_to(self.root.path).as_posix()
            timeout = self.settings.timeout_seconds
            texts = {PXELINUX_MENU: pxelinux_config(entries, default, timeout)}
            # A GRUB menu only where a GRUB is served: a UEFI node would meet it only after GRUB loads.
            served = self.root.served_loaders(arch)
            if not served or any(n.startswith("grub") for n in served):
                texts[GRUB_MENU] = grub_config(entries, default, timeout, base)
            changed = self.write_files(arch, texts, now, dry=dry)
            if GRUB_MENU not in texts:
                changed += self.remove_files(arch, now, dry=dry, only=(GRUB_MENU,))
            if not dry:
                self.save_kernel_opts(arch, [planned[r] for r in planned if r in installed])
            return MenuResult(arch, changed, default, order, dry=dry, warnings=warnings)
        except (OSError, UnsafePath, BadKernelOptions) as exc:
            return MenuResult(arch, [], error=f"{arch} boot menus: {exc}; the previous menus stay")

    def _entries(self, arch: str, release: str, version_dir: str, item: Item | None) -> list[MenuEntry]:
        """The entries for what a version dir holds: those its menu-entries.json lists whose files are
        there, else one (linux and its initrd), each with the boot options the dir carries."""
        directory = self.root.base_dir(arch) / release / version_dir
        entry = self._entry(arch, release, version_dir, item)
        listed: list[dict[str, str]] = []
        with suppress(FileNotFoundError, ValueError):
            listed = json.loads((directory / MENU_ENTRIES_FILE).read_text())
        listed = listed if isinstance(listed, list) else []
        entries = [
            MenuEntry(release, version_dir, e["kernel"], e["initrd"], entry.kernel_opts, e.get("suffix", ""), _title(e))
            for e in listed
            if isinstance(e, dict)
            and {"kernel", "initrd"} <= e.keys()
            and _SUFFIX_RE.fullmatch(str(e.get("suffix", "")))
            and all(
                isinstance(e[k], str) and "/" not in e[k] and (directory / e[k]).is_file() for k in ("kernel", "initrd")
            )
        ]
        return entries or [entry]

    def _chosen(self, arch: str, release: str, item: Item | None) -> str:
        """The options chosen for `release`'s entries: this run's (--kernel-opts, else its item's), or, for a
        release this run does not plan, what the last run that planned it chose."""
        if item is None:
            return self.saved_kernel_opts(arch, release)
        return self.settings.kernel_opts if self.settings.kernel_opts is not None else item.kernel_opts

    def _carried(self, arch: str, release: str, version_dir: str) -> str:
        """The boot options a version dir carries from its layout (BOOT_OPTIONS_FILE), "" if none."""
        options = self.root.base_dir(arch) / release / version_dir / BOOT_OPTIONS_FILE
        return options.read_text().strip() if options.is_file() else ""

    def _entry(self, arch: str, release: str, version_dir: str, item: Item | None) -> MenuEntry:
        """An entry for what a version dir holds: its initrd's name, and the boot options it carries."""
        directory = self.root.base_dir(arch) / release / version_dir
        initrd = "initrd.gz" if (directory / "initrd.gz").is_file() else "initrd"
        carried = self._carried(arch, release, version_dir)
        opts = " ".join(filter(None, [carried, self._chosen(arch, release, item)]))
        return MenuEntry(release, version_dir, initrd=initrd, kernel_opts=opts)

    def _retired(self, arch: str, release: str) -> bool:
        base = self.root.base_dir(arch)
        return (base.parent / RETIRED_MARK).exists() or (base / release / RETIRED_MARK).exists()

    def saved_kernel_opts(self, arch: str, release: str) -> str:
        """The options `release`'s entries got when a run last planned it; "" if none did (or unreadable)."""
        try:
            return check_kernel_opts((self.root.base_dir(arch) / release / KERNEL_OPTS_FILE).read_text().strip())
        except (OSError, UnicodeDecodeError, BadKernelOptions):
            return ""

    def save_kernel_opts(self, arch: str, items: Sequence[Item]) -> None:
        """Remember the options each planned item's entries got (KERNEL_OPTS_FILE), for runs that do not plan it."""
        for item in items:
            path = self.root.base_dir(arch) / item.release / KERNEL_OPTS_FILE
            chosen = self._chosen(arch, item.release, item)
            if not path.is_file() or self.saved_kernel_opts(arch, item.release) != chosen:
                write_atomic(path, f"{chosen}\n".encode(), sync_dir=False)

    def write_files(self, arch: str, menus: Mapping[str, str], now: float, *, dry: bool = False) -> list[str]:
        """Replace each changed menu (path relative to the arch's base -> text) atomically; return those changed
        (`dry`: those that would change; nothing is written).

        What a replaced menu named is remembered with the time, so its version dirs outlive it by
        the grace period: a node that read it still finds its kernel and initrd.
        """
        base = self.root.base_dir(arch)
        changed = []
        named: set[str] = set()
        for directory in {base, *((base / relative).parent for relative in menus)} if not dry else ():
            remove_debris(directory)
        for relative, text in menus.items():
            path = base / relative
            if not dry:
                self.root.ensure_dir(path.parent)
            current = _read_regular(path)
            if current == text:
                continue
            changed.append(relative)
            if dry:
                continue
            if current is not None:
                named |= version_paths(current)
            write_atomic(path, text.encode())
        if changed and not dry:
            self._remember(arch, named, now)
        return changed

    def remove_files(self, arch: str, now: float, *, dry: bool = False, only: Sequence[str] = MENUS) -> list[str]:
        """Delete the arch's menus that pxeimport wrote (an operator's own file stays); return those removed
        (`dry`: that would be; nothing is deleted).

        What they named is remembered like a replaced menu's, for the grace period.
        """
        base = self.root.base_dir(arch)
        removed, named = [], set()
        for relative in only:
            current = _read_regular(base / relative)
            if current is not None and current.startswith(f"# {HEADER}"):
                named |= version_paths(current)
                if not dry:
                    (base / relative).unlink()
                removed.append(relative)
        if removed and not dry:
            self._remember(arch, named, now)
        return removed

    def _remember(self, arch: str, named: set[str], now: float) -> None:
        grace = self.root.grace_seconds
        history = [h for h in self._history(arch) if now - h["replaced"] < grace]
        history.append({"replaced": now, "paths": sorted(named)})
        write_atomic(self.root.base_dir(arch) / MENU_HISTORY, json.dumps(history, indent=1).encode(), sync_dir=False)

    def write_grub_redirects(self) -> list[str]:
        """Point the places signed network GRUBs look for grub.cfg at the arches' menus; return those written.

        Signed network GRUBs have a fixed prefix, from the TFTP root whatever directory they were
        loaded from (GRUB_PREFIXES); a file there that pxeimport did not write (no header) is left
        alone: it is the operator's, and `foreign_grub_configs` says so on every run.
        """
        maas = self.root.maas
        arches = sorted(p.parent.parent.parent.name for p in maas.glob(f"*/base/{GRUB_MENU}") if p.is_file())
        redirects: dict[str, str] = {}
        for arch in arches:
            menu = f"/{MAAS_DIR}/{arch}/base/{GRUB_MENU}"
            redirects[f"debian-installer/{arch}/grub/grub.cfg"] = f"# {HEADER}\nconfigfile {menu}\n"
        if arches:
            lines = [f"# {HEADER}"]
            for arch in arches:
                cpu = GRUB_CPUS.get(arch, arch)
                lines.append(f'if [ "$grub_cpu" = "{cpu}" ]; then configfile /{MAAS_DIR}/{arch}/base/{GRUB_MENU}; fi')
            redirects["grub/grub.cfg"] = "\n".join(lines) + "\n"
        written = []
        for relative, text in redirects.items():
            path = self.root.path / relative
            if path.is_symlink() or path.exists():
                current = _read_regular(path) or ""
                if current == text or not current.startswith(f"# {HEADER}"):
                    continue  # already right, or the operator's own
            self.root.ensure_dir(path.parent)
            remove_debris(path.parent)
            write_atomic(path, text.encode())
            written.append(relative)
        return written

    def foreign_grub_configs(self) -> list[str]:
        """A warning per grub.cfg at a signed GRUB's fixed path that a node reads instead of pxeimport's menu.

        Such a file is at `<prefix>/grub.cfg`, is not pxeimport's (no header) and has no `configfile`
        naming an arch's menu. Each warning names the path and the line that makes it follow pxeimport.
        (`<prefix>/<cpu>-efi/grub.cfg`, which the embedded config sources first "if [ -e ]", is never
        read over the network: GRUB's net filesystem lists no directory, so `-e` is false there.)
        """
        arches = self._grub_arches()
        warnings = []
        for prefix, served in grub_prefixes(arches).items():
            relative = f"{prefix}/grub.cfg"
            text = _read_regular(self.root.path / relative)
            if text is None or text.startswith(f"# {HEADER}") or follows(text, served):
                continue
            lines = [follow_line(a, several=len(served) > 1) for a in served]
            warnings.append(
                f"{self.root.path / relative} was not written by pxeimport, and the signed GRUBs with prefix "
                f"/{prefix} read it instead of pxeimport's menu: UEFI nodes get its entries. To make it follow "
                f"pxeimport's menu, make it the line {' and the line '.join(repr(line) for line in lines)} "
                "(or delete it: the next run writes pxeimport's own there)"
            )
        return warnings

    def _grub_arches(self) -> list[str]:
        maas = self.root.maas
        return sorted(p.parent.parent.parent.name for p in maas.glob(f"*/base/{GRUB_MENU}") if p.is_file())

    def _history(self, arch: str) -> list[dict[str, Any]]:
        try:
            history = json.loads((self.root.base_dir(arch) / MENU_HISTORY).read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [h for h in history if isinstance(h, dict) and isinstance(h.get("replaced"), int | float)]

    def offered(self, arch: str) -> set[str] | None:
        """The "<release>/install-<v>" dirs the arch's own menus (MENUS, as pxeimport wrote them) offer now;
        None when pxeimport wrote no menu for the arch (none yet, or the arch was retired: its menus went)."""
        base = self.root.base_dir(arch)
        texts = [t for m in MENUS if (t := _read_regular(base / m)) is not None and t.startswith(f"# {HEADER}")]
        if not texts:
            return None
        return set().union(*(version_paths(t) for t in texts))

    def protected(self, arch: str, now: float) -> set[str]:
        """The "<release>/install-<v>" dirs named by a menu file in the root, or by one of pxeimport's
        menus replaced within the grace period.

        Menu files: every file in the arch's `pxelinux.cfg/` and `grub/` (the defaults and per-host
        files such as `01-<mac>`, `C0A8000A`, `grub.cfg-01-<mac>`), and in the root's `pxelinux.cfg/`
        and signed GRUBs' prefixes (paths there name `maas/<arch>/base/<release>/install-<v>/`).
        A version dir a per-host file names is kept for as long as the file names it.
        """
        base = self.root.base_dir(arch)
        protected: set[str] = set()
        for directory in {(base / relative).parent for relative in MENUS}:
            for text in _menu_texts(directory):
                protected |= version_paths(text)
        below_root = re.compile(rf"{MAAS_DIR}/{re.escape(arch)}/base/([^/\s]+/install-[0-9a-f]{{16}})/")
        for relative in ["pxelinux.cfg", *grub_prefixes([arch])]:
            for text in _menu_texts(self.root.path / relative):
                protected |= set(below_root.findall(text))
        for entry in self._history(arch):
            if now - entry["replaced"] < self.root.grace_seconds:
                protected |= {p for p in entry.get("paths", []) if isinstance(p, str)}
        return protected


def _title(listed: dict[str, str]) -> str:
    """A listed entry's title if both menus can show it as written, else none (the label alone)."""
    title = str(listed.get("title", ""))
    return title if _TITLE_RE.fullmatch(title) else ""


def _menu_texts(directory: Path) -> list[str]:
    """The texts of the regular files directly in `directory` (none through a symlink, none too big)."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    texts = []
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_size <= MAX_MENU_BYTES:
            text = _read_regular(Path(entry.path))
            if text is not None:
                texts.append(text)
    return texts


def _read_regular(path: Path) -> str | None:
    """The text of `path` if it is a regular file itself (not through a symlink); None otherwise."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return None
        return path.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
