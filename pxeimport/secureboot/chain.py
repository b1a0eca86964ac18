"""Whether shim will load what is served beside it: the GRUB it chains to, and its MokManager.

A shim loads its second stage and MokManager from its own directory, by fixed names (shim's
DEFAULT_LOADER `\\grub<arch>.efi` and MOK_MANAGER `\\mm<arch>.efi`, shim.h), over TFTP or HTTP alike.
The rules, as shim applies them with Secure Boot on (sources in pxeimport.secureboot.sbat):
- a shim with an `.sbat` section refuses a GRUB that has none (pe.c `verify_sbat_section`);
- a GRUB that the shim's *automatic* revocations revoke is refused on every Secure Boot node: the set is
  refused (the served one stays);
- one that only the *latest* (opt-in) revocations revoke boots except where a node's owner opted in: a
  warning;
- a shim with an `.sbat` but no `.sbatlevel` (before 15.7) revokes nothing itself: a warning, as what it
  serves cannot be checked against the levels newer shims wrote to nodes;
- MokManager comes from the shim's own build: its `.sbat` shim lines are the shim's. One from another build
  is refused with the set; none at all is a note (only a node with a pending MOK request, left by
  `mokutil --import`, stops; Debian's netboot directory never has one, so a warning would be mailed nightly);
- a shim, GRUB or MokManager that is not a whole PE image (not a UEFI application, or cut short) is refused.
The fallback (`fb<arch>.efi`) is installed beside the shim where the source has it, but shim runs it only
from a removable disk's \\EFI\\BOOT, never after a network boot: its absence is not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pxeimport.secureboot.pe import PeError, read_section
from pxeimport.secureboot.sbat import SbatEntry, SbatError, parse_sbat, parse_sbatlevel, revoked

# shim's name in a loader set -> (the GRUB it chains to, its MokManager, its fallback), by the EFI arch suffix.
SHIM_CHAINS: Mapping[str, tuple[str, str, str]] = {
    f"{prefix}{suffix}.efi": (f"grub{suffix}.efi", f"mm{suffix}.efi", f"fb{suffix}.efi")
    for suffix in ("x64", "aa64", "ia32")
    for prefix in ("boot", "bootnet")
}
# MokManager and the fallback: served beside a shim, never named by DHCP.
SHIM_HELPERS = frozenset(name for _, mm, fb in SHIM_CHAINS.values() for name in (mm, fb))


@dataclass
class Judgement:
    """What a loader set's Secure Boot chain would do: `refusals` (a node stops: do not serve it), `warnings`
    (some nodes stop) and `notes` (a rare path fails), one sentence each naming the files and SBAT lines."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def judge(files: Mapping[str, Path]) -> Judgement:
    """Judge each shim in `files` (loader name -> path) with the GRUB and MokManager beside it."""
    judgement = Judgement()
    for shim_name, (grub_name, mm_name, _) in SHIM_CHAINS.items():
        if shim_name not in files:
            continue
        try:
            _judge_shim(files, shim_name, grub_name, mm_name, judgement)
        except PeError as exc:
            judgement.refusals.append(f"{exc}: firmware and shim run only whole UEFI applications (PE images)")
        except SbatError as exc:
            judgement.refusals.append(f"{exc}: shim cannot read it, and refuses the image")
    return judgement


def _judge_shim(files: Mapping[str, Path], shim_name: str, grub_name: str, mm_name: str, into: Judgement) -> None:
    shim = files[shim_name]
    shim_sbat = _sbat(shim, shim_name)
    level_data = read_section(shim, ".sbatlevel")
    levels = parse_sbatlevel(level_data, name=shim_name) if level_data is not None else None
    grub = files.get(grub_name)
    if shim_sbat is not None and not _shim_lines(shim_sbat):
        into.refusals.append(f"{shim_name}'s .sbat names no shim component: it is not a shim")
        return
    if shim_sbat is not None and levels is None:
        into.warnings.append(
            f"{shim_name} ({_shim_line(shim_sbat)}) carries no SBAT revocation level (.sbatlevel, shim 15.7 and "
            "later): what it loads cannot be checked against the levels newer shims wrote to nodes"
        )
    if grub is not None and shim_sbat is not None:
        grub_sbat = _sbat(grub, grub_name)
        if grub_sbat is None:
            into.refusals.append(
                f"{grub_name} has no .sbat section, and {shim_name} ({_shim_line(shim_sbat)}) refuses a GRUB "
                "without one: Secure Boot nodes would stop"
            )
        elif levels is not None:
            for entry, revocation in revoked(grub_sbat, levels.automatic):
                into.refusals.append(
                    f"{grub_name} ('{entry.line}') is revoked by {shim_name}'s automatic SBAT level "
                    f"'{levels.automatic}' ({revocation.component} generation {revocation.generation} or later "
                    "needed): shim refuses it on every Secure Boot node"
                )
            if not revoked(grub_sbat, levels.automatic):
                for entry, revocation in revoked(grub_sbat, levels.latest):
                    into.warnings.append(
                        f"{grub_name} ('{entry.line}') is revoked by {shim_name}'s opt-in SBAT level "
                        f"'{levels.latest}' ({revocation.component},{revocation.generation}): nodes whose owner ran "
                        "mokutil --set-sbat-policy latest refuse it; other Secure Boot nodes boot it"
                    )
    mokmanager = files.get(mm_name)
    if mokmanager is None:
        into.notes.append(
            f"no MokManager ({mm_name}) beside {shim_name}: harmless unless a node's owner left a MOK request "
            "(mokutil --import); such a node stops with 'Failed to start MokManager: Not Found'"
        )
    elif shim_sbat is not None:
        mm_sbat = _sbat(mokmanager, mm_name) or ()
        if _shim_lines(mm_sbat) != _shim_lines(shim_sbat):
            into.refusals.append(
                f"{mm_name} ({_shim_line(mm_sbat) or 'no .sbat'}) is not of {shim_name}'s build "
                f"({_shim_line(shim_sbat)}): MokManager must come from the same shim build"
            )


def _sbat(path: Path, name: str) -> tuple[SbatEntry, ...] | None:
    data = read_section(path, ".sbat")
    return parse_sbat(data, name=name) if data is not None else None


def _shim_lines(entries: tuple[SbatEntry, ...]) -> list[str]:
    """The lines naming shim itself ("shim", "shim.<vendor>"): what one shim build writes in all its images."""
    return [e.line for e in entries if e.component == "shim" or e.component.startswith("shim.")]


def _shim_line(entries: tuple[SbatEntry, ...]) -> str:
    return "; ".join(_shim_lines(entries))
