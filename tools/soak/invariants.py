"""What must hold after every night, each a named function of what the night left: one sentence per violation.

They read the TFTP root as tftpd and GRUB would (the menus, the links, the version dirs' manifests) and the
database as the status page does, and compare with what the harness itself published upstream; none takes
the importer's word for what it did. `Night` carries what the harness knows that the root cannot say: what
was served before the night, what the selection and the upstream hold after it, and the run rows the night
wrote.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pxeimport.menus import version_paths
from pxeimport.tftproot import TftpRoot, read_manifest

MENUS = ("pxelinux.cfg/default", "grub/grub.cfg")
# pxelinux: "KERNEL <release>/install-<v>/linux" then "APPEND initrd=<release>/install-<v>/initrd.gz ..."
_PXELINUX_ENTRY = re.compile(r"^LABEL (\S+)\n  KERNEL (\S+)\n  APPEND initrd=(\S+)(.*)$", re.MULTILINE)
# GRUB: "linux /maas/<arch>/base/<release>/install-<v>/linux <options> $bootif" then "initrd <path>"
_GRUB_ENTRY = re.compile(r"^    linux (\S+)(.*) \$bootif\n    initrd (\S+)$", re.MULTILINE)


@dataclass
class Night:
    """What one night left, beside the root: pairs are (arch, release)."""

    root: TftpRoot
    served_before: set[tuple[str, str]]
    # The saved selection after the night: (arch, release) -> the kernel options its entries must carry.
    selected: dict[tuple[str, str], str]
    offered: set[tuple[str, str]]
    # Each run row of the night: its changes text (what it retired, kept, deleted).
    changes: list[str] = field(default_factory=list)
    # The status page's database side: (arch, release) -> the live version the rows claim.
    claimed: dict[tuple[str, str], str] = field(default_factory=dict)
    # Whether tonight's import could take what upstream offers (the mirror up, the TFTP root's disk not full).
    reachable: bool = True
    # Whether it could write the menus (not on a full disk: they keep last night's options until the next).
    menus_writable: bool = True
    # Releases whose stale signed Release the mirror served tonight: their items are refused, rightly.
    replayed: set[str] = field(default_factory=set)
    # (arch, release) -> {file name: SHA-256} of what upstream publishes now (the kernel, initrd and loaders).
    upstream: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


def served_pairs(root: TftpRoot) -> set[tuple[str, str]]:
    """(arch, release) of every entry either menu of an arch offers (retired arches have none)."""
    pairs = set()
    for arch in root.arches(retired=False):
        for name in MENUS:
            menu = root.base_dir(arch) / name
            if menu.is_file():
                pairs |= {(arch, path.split("/")[0]) for path in version_paths(menu.read_text())}
    return pairs


def entries(root: TftpRoot, arch: str) -> list[tuple[str, str, str, str]]:
    """(menu, kernel path, initrd path, options) of every installer entry of `arch`'s menus, paths from base/."""
    base = root.base_dir(arch)
    found = []
    pxelinux, grub = (base / name for name in MENUS)
    if pxelinux.is_file():
        for _, kernel, initrd, options in _PXELINUX_ENTRY.findall(pxelinux.read_text()):
            found.append((MENUS[0], kernel, initrd, options))
    if grub.is_file():
        prefix = "/" + base.relative_to(root.path).as_posix() + "/"
        for kernel, options, initrd in _GRUB_ENTRY.findall(grub.read_text()):
            found.append((MENUS[1], kernel.removeprefix(prefix), initrd.removeprefix(prefix), options))
    return found


def entries_name_verified_files(night: Night) -> list[str]:
    """Every entry's kernel and initrd exist as regular files of their version dir and hash to its manifest."""
    bad = []
    for arch in night.root.arches(retired=False):
        base = night.root.base_dir(arch)
        for menu, *paths, _ in entries(night.root, arch):
            for path in paths:
                version_dir, name = (base / path).parent, (base / path).name
                manifest = read_manifest(version_dir) or {}
                listed = manifest.get(name)
                if listed is None or not (base / path).is_file():
                    bad.append(f"{arch} {menu} names {path}, which its version dir does not hold")
                elif hashlib.sha256((base / path).read_bytes()).hexdigest() != listed.sha256:
                    bad.append(f"{arch} {menu} names {path}, whose bytes are not its manifest's")
    return bad


def served_loaders_are_verified(night: Night) -> list[str]:
    """Every pre-boot loader at its stable path (pxelinux.0, the shim, GRUB) is a whole file of one loader
    version dir, with the bytes its manifest lists."""
    bad = []
    for arch in night.root.arches(retired=False):
        base = night.root.base_dir(arch)
        for name in sorted(night.root.served_loaders(arch)):
            target = (base / name).resolve()
            listed = (read_manifest(target.parent) or {}).get(target.name)
            if listed is None or _sha256(target) != listed.sha256:
                bad.append(f"{arch}: {name} is not a whole file of its loader version")
    return bad


def one_version_per_entry(night: Night) -> list[str]:
    """An entry's kernel and initrd come from one version dir."""
    return [
        f"{arch} {menu}: kernel {kernel} and initrd {initrd} are of two versions"
        for arch in night.root.arches(retired=False)
        for menu, kernel, initrd, _ in entries(night.root, arch)
        if Path(kernel).parent != Path(initrd).parent
    ]


def kernel_options_on_every_entry(night: Night) -> list[str]:
    """Every entry of a selected release carries exactly the saved selection's kernel options (none left over
    from before an edit), in both menus; the layout here carries none of its own. Not on a night the disk was
    full: the menus could not be written (the next night's are checked)."""
    if not night.menus_writable:
        return []
    bad = []
    for arch in night.root.arches(retired=False):
        for menu, kernel, _, options in entries(night.root, arch):
            release = kernel.split("/")[0]
            wanted = night.selected.get((arch, release))
            given = [word for word in options.split() if word != "---"]
            if wanted is not None and given != wanted.split():
                bad.append(f"{arch}/{release} {menu}: the entry has options {given}, the selection {wanted.split()}")
    return bad


def both_menus_offer_the_same_releases(night: Night) -> list[str]:
    """A BIOS node and a UEFI node of one arch are offered the same releases, in the same versions."""
    bad = []
    for arch in night.root.arches(retired=False):
        found: dict[str, set[str]] = {menu: set() for menu in MENUS}
        for menu, kernel, _, _ in entries(night.root, arch):
            found[menu].add(str(Path(kernel).parent))
        if all((night.root.base_dir(arch) / menu).is_file() for menu in MENUS) and found[MENUS[0]] != found[MENUS[1]]:
            bad.append(f"{arch}: pxelinux offers {sorted(found[MENUS[0]])}, GRUB {sorted(found[MENUS[1]])}")
    return bad


def selected_and_offered_is_served_as_published(night: Night) -> list[str]:
    """After a night the mirror was up, every selected release it offers is on the menus, and every entry of it
    (pxelinux's and GRUB's) names the kernel and initrd upstream publishes now (compared with the harness's own
    hashes); a release whose stale Release was replayed is left out."""
    if not night.reachable:
        return []
    bad = []
    for arch, release in sorted(set(night.selected) & set(night.upstream)):
        if release in night.replayed:
            continue
        named = [(menu, paths) for menu, *paths, _ in entries(night.root, arch) if paths[0].split("/")[0] == release]
        if not named:
            bad.append(f"{arch}/{release} is selected and offered but not on the menus")
        base = night.root.base_dir(arch)
        for menu, paths in named:
            for name, path in zip(("linux", "initrd.gz"), paths, strict=True):
                if _sha256(base / path) != night.upstream[(arch, release)][name]:
                    bad.append(f"{arch}/{release}: the {name} {menu} names is not what upstream publishes now")
    return bad


def served_loader_has_entries(night: Night) -> list[str]:
    """An arch that serves a pre-boot loader offers at least one installer in the menu that loader reads:
    pxelinux.0 its pxelinux.cfg/default, a GRUB its grub/grub.cfg."""
    bad = []
    for arch in night.root.arches(retired=False):
        loaders = night.root.served_loaders(arch)
        menus = {menu for menu, *_ in entries(night.root, arch)}
        needed = [MENUS[0]] if "pxelinux.0" in loaders else []
        needed += [MENUS[1]] if any(name.startswith("grub") for name in loaders) else []
        bad += [f"{arch} serves a loader but its {menu} offers no installer" for menu in needed if menu not in menus]
    return bad


def nothing_selected_and_offered_is_lost(night: Night) -> list[str]:
    """What was served before the night, and is still selected and offered upstream, is served after it."""
    after = served_pairs(night.root)
    kept = night.served_before & set(night.selected) & night.offered
    return [
        f"{arch}/{release} was served, is selected and offered, and is gone" for arch, release in sorted(kept - after)
    ]


def no_partial_file_is_served(night: Night) -> list[str]:
    """After a night's import, nothing half-made is left below any arch's tree: no ".<name>.new-*" name (a
    file being written, a link being swapped in) and no link to nothing. Right after a kill such names may
    stand beside what is served (no menu names them); the next run must clear them."""
    bad = []
    for arch in night.root.arches():
        for directory, dirs, files in os.walk(night.root.base_dir(arch)):
            for name in [*dirs, *files]:
                path = Path(directory) / name
                if name.startswith(".") and ".new-" in name:
                    bad.append(f"{path} is a half-written name")
                elif path.is_symlink() and not path.exists():
                    bad.append(f"{path} is a link to nothing")
    return bad


def every_removal_is_in_a_run_row(night: Night) -> list[str]:
    """Each release that left the menus in the night is named in the changes of one of its run rows as
    retired or removed ("retired <arch>/<release>: …"), or among the releases of its arch's retirement or
    removal ("retired <arch> (<releases>): …", "removed <arch> (<releases>): …")."""
    gone = night.served_before - served_pairs(night.root)
    said = "\n".join(night.changes)
    arches: dict[str, set[str]] = {}
    for arch, names in re.findall(r"^(?:retired|removed) (\S+) \(([^)]*)\):", said, re.M):
        arches.setdefault(arch, set()).update(names.split(", "))

    def named(arch: str, release: str) -> bool:
        line = re.compile(rf"^(retired|removed) {re.escape(arch)}/{re.escape(release)}:", re.MULTILINE)
        return bool(line.search(said)) or release in arches.get(arch, set())

    return [
        f"{arch}/{release} left the menus and no run row says so"
        for arch, release in sorted(gone)
        if not named(arch, release)
    ]


def status_rows_agree_with_the_disk(night: Night) -> list[str]:
    """The status page's rows claim, for every release the root serves, the version the root serves."""
    bad = []
    for arch in night.root.arches(retired=False):
        for release, version_dir in night.root.installed_releases(arch).items():
            if (arch, release) not in served_pairs(night.root):
                continue
            claimed = night.claimed.get((arch, release))
            if claimed is None:
                bad.append(f"{arch}/{release}: served as {version_dir}, and no status row says so")
            elif f"install-{claimed}" != version_dir:
                bad.append(f"{arch}/{release}: the status rows say {claimed}, the root serves {version_dir}")
    return bad


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


Invariant = Callable[[Night], list[str]]
INVARIANTS: dict[str, Invariant] = {
    f.__name__: f
    for f in (
        entries_name_verified_files,
        served_loaders_are_verified,
        one_version_per_entry,
        kernel_options_on_every_entry,
        both_menus_offer_the_same_releases,
        served_loader_has_entries,
        selected_and_offered_is_served_as_published,
        nothing_selected_and_offered_is_lost,
        no_partial_file_is_served,
        every_removal_is_in_a_run_row,
        status_rows_agree_with_the_disk,
    )
}
