"""The Secure Boot warnings of what a TFTP root serves now, read from the root after every run."""

from __future__ import annotations

from pxeimport.secureboot.chain import judge
from pxeimport.tftproot import TftpRoot


def served_warnings(root: TftpRoot) -> list[str]:
    """One sentence per problem of each arch's served loader set ("<arch> loaders: …"), refusals included:
    a set served before a rule existed is judged too. Reads only."""
    warnings = []
    for arch in root.arches():
        base = root.loader_slot(arch).parent
        judgement = judge({name: base / name for name in sorted(root.served_loaders(arch))})
        warnings += [f"{arch} loaders: {line}" for line in [*judgement.refusals, *judgement.warnings]]
    return warnings
