"""Build a debian-installer-layout archive tree on disk, the way the real mirrors lay it out.

<root>/dists/<release>/main/installer-<arch>/<stamp>/images/SHA256SUMS
<root>/dists/<release>/main/installer-<arch>/<stamp>/images/netboot/<installer-dir>/<arch>/<files>
<root>/dists/<release>/main/installer-<arch>/current -> <stamp>
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from tools.pe import stand_in_grub, stand_in_shim
from tools.signing import ArchiveSigner

Content = bytes | Path


class ArchiveTree:
    """An archive on disk. `publish` adds a new dated version of one release and arch."""

    def __init__(
        self,
        root: Path,
        installer_dir: str = "ubuntu-installer",
        signer: ArchiveSigner | None = None,
        release_lists_installer: bool = True,
    ) -> None:
        self.root = root
        self.installer_dir = installer_dir
        self.signer = signer
        self.release_lists_installer = release_lists_installer
        self._stamps = itertools.count(1)
        # The Release's Date (None: the time it is signed) and Valid-Until (None: no such field).
        self.date: datetime | None = None
        self.valid_until: datetime | None = None
        (root / "dists").mkdir(parents=True, exist_ok=True)

    def installer_path(self, release: str, arch: str) -> Path:
        return self.root / "dists" / release / "main" / f"installer-{arch}"

    def images_path(self, release: str, arch: str, images_dir: str = "images") -> Path:
        return self.installer_path(release, arch) / "current" / images_dir

    def netboot_path(self, release: str, arch: str) -> str:
        """The netboot dir relative to images/."""
        return f"netboot/{self.installer_dir}/{arch}"

    def publish(
        self,
        release: str,
        arch: str,
        files: Mapping[str, Content],
        *,
        stamp: str | None = None,
        images_dir: str = "images",
        sums: str | None = None,
    ) -> Path:
        """Write `files` (names relative to the netboot dir) as a new dated dir; move `current`.

        Bytes are written; a Path is hard-linked (or copied across filesystems). `sums` replaces
        the generated SHA256SUMS text, to serve a wrong or hostile index.
        """
        stamp = stamp or f"20260101-{next(self._stamps):04d}"
        installer = self.installer_path(release, arch)
        images = installer / stamp / images_dir
        lines = []
        for name, content in sorted(files.items()):
            relative = f"{self.netboot_path(release, arch)}/{name}"
            target = images / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                _link_or_copy(content, target)
                digest = _sha256_path(target)
            else:
                target.write_bytes(content)
                digest = hashlib.sha256(content).hexdigest()
            lines.append(f"{digest}  ./{relative}\n")
        index = ("".join(lines) if sums is None else sums).encode()
        (images / "SHA256SUMS").write_bytes(index)
        if self.signer and not self.release_lists_installer:
            (images / "SHA256SUMS.gpg").write_bytes(self.signer.detach_sign(index))
        link = installer / "current"
        temporary = installer / f".current-{stamp}"
        os.symlink(stamp, temporary)
        os.replace(temporary, link)
        self.sign_release(release)
        return images

    def sign_release(self, release: str) -> None:
        """Write dists/<release>/Release (listing what Debian's lists) and sign it two ways."""
        if self.signer is None:
            return
        top = self.root / "dists" / release
        listed = []
        if self.release_lists_installer:
            for index in sorted(top.glob("main/installer-*/*/*images/SHA256SUMS")):
                data = index.read_bytes()
                path = index.relative_to(top).as_posix()
                listed.append(f" {hashlib.sha256(data).hexdigest()} {len(data):>16} {path}\n")
        dates = f"Date: {_rfc2822(self.date or datetime.now(UTC))}\n"
        if self.valid_until is not None:
            dates += f"Valid-Until: {_rfc2822(self.valid_until)}\n"
        text = f"Origin: pxeimport tests\nCodename: {release}\n{dates}SHA256:\n{''.join(listed)}".encode()
        (top / "Release").write_bytes(text)
        (top / "Release.gpg").write_bytes(self.signer.detach_sign(text))
        (top / "InRelease").write_bytes(self.signer.clearsign(text))

    def remove(self, release: str, arch: str) -> None:
        """Upstream drops a release/arch: its installer dir answers 404 from now on."""
        shutil.rmtree(self.installer_path(release, arch))


def netboot_files(
    tag: str, *, loader: bool = True, ldlinux: bool = True, uefi: bool = False, size: int = 4096
) -> dict[str, bytes]:
    """Small distinct stand-ins for a netboot dir's files; the same `tag` gives the same bytes."""

    def blob(name: str) -> bytes:
        seed = f"{tag}:{name}:".encode()
        return (seed * (size // len(seed) + 1))[:size]

    files = {"linux": blob("linux"), "initrd.gz": blob("initrd.gz")}
    if loader:
        files["pxelinux.0"] = blob("pxelinux.0")
    if loader and ldlinux:
        files["boot-screens/ldlinux.c32"] = blob("ldlinux.c32")
    if uefi:  # UEFI applications (PE images) with SBAT data, as pxeimport judges them before serving
        files["bootnetx64.efi"] = stand_in_shim(blob("bootnetx64.efi"))
        files["grubx64.efi"] = stand_in_grub(blob("grubx64.efi"))
    return files


def _rfc2822(when: datetime) -> str:
    """As apt's archive tools write it: "Sat, 10 Jun 2023 08:49:23 UTC"."""
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
