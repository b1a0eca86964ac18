"""The Secure Boot warnings of what a TFTP root serves now, read from the root after every run: each arch's
loader set (chain) and each served release's kernels against the certificates of the shim served for that
arch (kernels)."""

from __future__ import annotations

from pathlib import Path

from pxeimport.secureboot.chain import SHIM_CHAINS, Judgement, judge
from pxeimport.secureboot.kernels import NO_SIGNATURE, is_pe_image, unverified, vendor_certificates
from pxeimport.secureboot.pe import PeError
from pxeimport.tftproot import TftpRoot


def served_judgement(root: TftpRoot) -> Judgement:
    """What a Secure Boot node meets in each arch the root serves (retired ones left out), one sentence per
    problem ("<arch> loaders: …", "<arch>/<release>: …"): `warnings` (refusals included: a set served before a
    rule existed is judged too) and `notes`; no refusals. Reads only; sbverify hashes a kernel once per shim."""
    warnings, notes = [], []
    for arch in root.arches(retired=False):
        base = root.loader_slot(arch).parent
        served = sorted(root.served_loaders(arch))
        judgement = judge({name: base / name for name in served})
        warnings += [f"{arch} loaders: {line}" for line in [*judgement.refusals, *judgement.warnings]]
        notes += [f"{arch} loaders: {line}" for line in judgement.notes]
        for shim in (name for name in served if name in SHIM_CHAINS):
            try:
                certificates = vendor_certificates(base / shim)
            except PeError:
                continue
            for release, installed in sorted(root.installed_releases(arch).items()):
                for kernel in _kernels(root.install_slot(arch, release).parent / installed):
                    signer = unverified(kernel, certificates)
                    if signer is not None:
                        signed = "is not signed" if signer == NO_SIGNATURE else f"is signed by {signer}"
                        warnings.append(
                            f"{arch}/{release}: its kernel {kernel.name} {signed}, not by the vendor certificate "
                            f"{shim} carries: Secure Boot nodes stop at GRUB's 'bad shim signature'"
                        )
    return Judgement(warnings=warnings, notes=notes)


def _kernels(version_dir: Path) -> list[Path]:
    """The files of a served release that are PE images: its kernels (an initrd never is)."""
    try:
        return sorted(p for p in version_dir.iterdir() if p.is_file() and not p.is_symlink() and is_pe_image(p))
    except OSError:
        return []
