"""A stand-in for Ubuntu's signed publishing, for the ubuntu-iso layout: release dirs and a package archive.

<root>/releases/<codename>/ubuntu-<version>-live-server-<arch>.iso   built by xorriso (tools.iso)
<root>/releases/<codename>/SHA256SUMS, SHA256SUMS.gpg                 "<sha256> *<file>", detached signature
<root>/ubuntu/dists/<codename>{,-updates,-security}/InRelease ...      tools.package_archive, signed likewise
<root>/ubuntu/pool/...                                                the loader .debs

The ISOs hold what a caller gives as casper/vmlinuz and casper/initrd (Debian's real netboot kernel
and initrd in the tests, so they boot) and optionally the HWE pair.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from tools.iso import Content, live_server_members, make_iso
from tools.package_archive import PackageArchiveTree
from tools.signing import ArchiveSigner
from tools.ubuntu_archive import UbuntuNetbootTree

POCKETS = ("", "-updates", "-security")


def live_server_iso(
    path: Path, version: str, kernel: Content, initrd: Content, hwe: tuple[Content, Content] | None = None
) -> Path:
    """A live-server ISO of point release `version` (its .disk/info names it, so each version's bytes differ)."""
    members = live_server_members(kernel, initrd, hwe, version=version)
    return make_iso(path, members, volume_id=f"Ubuntu-Server {version} LTS amd64")


class UbuntuIsoTree:
    def __init__(self, root: Path, signer: ArchiveSigner | None) -> None:
        self.root = root
        self.releases = root / "releases"
        self.sums = UbuntuNetbootTree(self.releases, signer)
        self.packages = PackageArchiveTree(root / "ubuntu", signer)

    def add_iso(self, codename: str, version: str, iso: Path, arch: str = "amd64") -> Path:
        """Put `iso` in the release dir as version `version`'s live-server ISO; rewrite and sign SHA256SUMS."""
        directory = self.releases / codename
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"ubuntu-{version}-live-server-{arch}.iso"
        shutil.copyfile(iso, target)
        self.sums.sign(codename)
        return target

    def publish_loaders(self, codename: str, pockets: Mapping[str, list[Path]]) -> None:
        """Each pocket ("", "-updates", "-security") with its .debs, published and signed (an empty one too)."""
        for pocket in POCKETS:
            for deb in pockets.get(pocket, []):
                self.packages.add(codename + pocket, deb)
            self.packages.publish(codename + pocket)
