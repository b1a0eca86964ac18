"""Which files of which packages are an arch's pre-boot loaders in a Debian-style package archive, and the names
they are served as (pxeimport.layouts.packages resolves and fetches them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LoaderFile:
    """A file served in the TFTP root, taken from a package.

    `members` are paths inside the .deb's data.tar, most preferred first; the first the .deb
    holds is used (Ubuntu and Debian name the signed shim differently).
    """

    name: str
    package: str
    members: tuple[str, ...]
    # A helper of another package's build (MokManager of the shim): taken only from a version built from the
    # same source version as that package's chosen one (both Packages entries' Built-Using), else left out.
    same_build_as: str = ""
    # May be left out (another package's entry of the same name is tried first; none: the set goes without).
    optional: bool = False


def _shim_helpers(suffix: str) -> tuple[LoaderFile, ...]:
    """MokManager and the fallback beside the shim: Debian's from shim-helpers-<arch>-signed of the shim's
    build (Debian 12: usr/lib/shim/mm<suffix>.efi.signed), else Ubuntu's in shim-signed itself
    (usr/lib/shim/mm<suffix>.efi); `dpkg -c` of both archives' packages."""
    debian_arch = {"x64": "amd64", "aa64": "arm64"}[suffix]
    return tuple(
        file
        for helper in (f"mm{suffix}.efi", f"fb{suffix}.efi")
        for file in (
            LoaderFile(
                helper,
                f"shim-helpers-{debian_arch}-signed",
                (f"usr/lib/shim/{helper}.signed",),
                same_build_as="shim-signed",
                optional=True,
            ),
            LoaderFile(helper, "shim-signed", (f"usr/lib/shim/{helper}",), optional=True),
        )
    )


# The paths are the packages' file lists: Debian 12's checked with `dpkg -c` on the .debs
# (pxelinux 3:6.04~git20190206.bf6db5b4+dfsg1-3, syslinux-common likewise, shim-signed
# 1.51~1+deb12u1+16.1-2~deb12u1, grub-efi-amd64-signed 1+2.06+13+deb12u2); Ubuntu's
# shimx64.efi.signed.latest / shimaa64.efi.signed.latest from shim-signed 1.5x (Ubuntu keeps
# ".previous" beside it, for machines whose firmware revoked nothing yet). The shim loads
# grub<arch>.efi from beside itself, hence the names the signed files are served as.
LOADER_FILES: Mapping[str, tuple[LoaderFile, ...]] = {
    "amd64": (
        LoaderFile("pxelinux.0", "pxelinux", ("usr/lib/PXELINUX/pxelinux.0",)),
        LoaderFile("ldlinux.c32", "syslinux-common", ("usr/lib/syslinux/modules/bios/ldlinux.c32",)),
        LoaderFile(
            "bootx64.efi",
            "shim-signed",
            ("usr/lib/shim/shimx64.efi.signed.latest", "usr/lib/shim/shimx64.efi.signed"),
        ),
        LoaderFile("grubx64.efi", "grub-efi-amd64-signed", ("usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",)),
        *_shim_helpers("x64"),
    ),
    "arm64": (
        LoaderFile(
            "bootaa64.efi",
            "shim-signed",
            ("usr/lib/shim/shimaa64.efi.signed.latest", "usr/lib/shim/shimaa64.efi.signed"),
        ),
        LoaderFile("grubaa64.efi", "grub-efi-arm64-signed", ("usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed",)),
        *_shim_helpers("aa64"),
    ),
}
