"""Names an operator types for an architecture or a release, checked before any request: the other world's
name for an arch (x86_64, aarch64: the kernel's and Red Hat's) and a release name one or two letters from
one distro-info knows (bookwrom) are refused, saying the name meant; any other new name is taken as typed
(a release newer than this machine's distro-info data, a private mirror's suite).
"""

from __future__ import annotations

import difflib

from pxeimport.layouts.releases import DISTRIBUTIONS, ReleaseDataError, known_releases

# What `uname -m`, RPM and others call the architectures Debian and Ubuntu name (dpkg-architecture -L).
ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "armv8": "arm64",
    "i686": "i386",
    "i586": "i386",
    "x86": "i386",
    "armv7l": "armhf",
    "armv7": "armhf",
    "ppc64le": "ppc64el",
    "riscv": "riscv64",
}


# Debian's suite names beside the codenames (dists/<suite> on every mirror), and Ubuntu's development alias.
SUITES = frozenset({"stable", "testing", "unstable", "oldstable", "oldoldstable", "experimental", "devel"})


def arch_problem(name: str) -> str | None:
    """Why `name` is not the architecture name Debian and Ubuntu use (with the one they use); None if fine."""
    meant = ARCH_ALIASES.get(name.lower())
    if meant is None:
        return None
    return f"{name!r} is not what Debian and Ubuntu call an architecture: they call it {meant!r}"


def release_problem(name: str) -> str | None:
    """Why `name` looks like a mistyped release codename distro-info knows (naming it); None if fine."""
    if name in SUITES:
        return None
    known: list[str] = []
    for distribution in DISTRIBUTIONS:
        try:
            known += [r.codename for r in known_releases(distribution)]
        except ReleaseDataError:
            continue
    if not known or name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    if not close:
        return None
    return (
        f"release {name!r} is not one distro-info knows; did you mean {close[0]!r}? (a release newer than this "
        "machine's distro-info data: update the distro-info-data package)"
    )
