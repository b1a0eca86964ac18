"""The Secure Boot warnings of what a TFTP root serves now, read from the root after every run: each arch's
loader set (chain) and each served release's kernels against the certificates of the shim served for that
arch (kernels)."""

from __future__ import annotations

from pathlib import Path

from pxeimport.secureboot.chain import SHIM_CHAINS, judge
from pxeimport.secureboot.kernels import is_pe_image, unverified, vendor_certificates
from pxeimport.secureboot.pe import PeError
from pxeimport.tftproot import TftpRoot


def served_warnings(root: TftpRoot) -> list[str]:
    """One sentence per problem ("<arch> loaders: …", "<arch>/<release>: …"), refusals included: a set served
    before a rule existed is judged too. Reads only; a kernel is hashed by sbverify once per shim served."""
    warnings = []
    for arch in root.arches():
        base = root.loader_slot(arch).parent
        served = sorted(root.served_loaders(arch))
        judgement = judge({name: base / name for name in served})
        warnings += [f"{arch} loaders: {line}" for line in [*judgement.refusals, *judgement.warnings]]
        for shim in (name for name in served if name in SHIM_CHAINS):
            try:
                certificates = vendor_certificates(base / shim)
            except PeError:
                continue
            for release, installed in sorted(root.installed_releases(arch).items()):
                for kernel in _kernels(root.install_slot(arch, release).parent / installed):
                    signer = unverified(kernel, certificates)
                    if signer is not None:
                        warnings.append(
                            f"{arch}/{release}: its kernel {kernel.name} is signed by {signer}, not by the vendor "
                            f"certificate {shim} carries: Secure Boot nodes stop at GRUB's 'bad shim signature'"
                        )
    return warnings


def _kernels(version_dir: Path) -> list[Path]:
    """The files of a served release that are PE images: its kernels (an initrd never is)."""
    try:
        return sorted(p for p in version_dir.iterdir() if p.is_file() and not p.is_symlink() and is_pe_image(p))
    except OSError:
        return []
