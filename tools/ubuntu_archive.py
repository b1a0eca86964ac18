"""Build Ubuntu's current netboot layout on disk: <root>/<codename>/ with tarball, ISO, signed sums.

<root>/<codename>/ubuntu-<version>-live-server-<arch>.iso       (a small stand-in)
<root>/<codename>/ubuntu-<version>-netboot-<arch>.tar.gz        ./<arch>/linux, initrd, loaders, configs
<root>/<codename>/SHA256SUMS, SHA256SUMS.gpg                    "<sha256> *<file>", detached signature
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

from tools.pe import stand_in_grub, stand_in_shim
from tools.signing import ArchiveSigner

Content = bytes | Path


class UbuntuNetbootTree:
    def __init__(self, root: Path, signer: ArchiveSigner | None = None) -> None:
        self.root = root
        self.signer = signer
        root.mkdir(parents=True, exist_ok=True)

    def publish(
        self,
        codename: str,
        version: str,
        arch: str,
        files: Mapping[str, Content],
        *,
        list_tarball: bool = True,
        extra_members: list[tarfile.TarInfo] | None = None,
    ) -> Path:
        """Add a point release's ISO and netboot tarball to the release dir; rewrite and sign its sums.

        `files` are named as inside ./<arch>/ of the tarball. `extra_members` (TarInfo, with no
        data) are appended as they are, to build hostile tarballs.
        """
        directory = self.root / codename
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"ubuntu-{version}-live-server-{arch}.iso").write_bytes(f"ISO {version} {arch}\n".encode())
        tarball = directory / f"ubuntu-{version}-netboot-{arch}.tar.gz"
        with tarfile.open(tarball, "w:gz") as out:
            for name, content in sorted(files.items()):
                info = tarfile.TarInfo(f"./{arch}/{name}")
                if isinstance(content, Path):
                    info.size = content.stat().st_size
                    with open(content, "rb") as data:
                        out.addfile(info, data)
                else:
                    info.size = len(content)
                    out.addfile(info, io.BytesIO(content))
            for info in extra_members or []:
                out.addfile(info, io.BytesIO(b"\0" * info.size) if info.isreg() else None)
        self.sign(codename, unlisted={tarball.name} if not list_tarball else set())
        return directory

    def sign(self, codename: str, unlisted: set[str] | frozenset[str] = frozenset()) -> None:
        directory = self.root / codename
        lines = []
        for path in sorted(directory.iterdir()):
            if path.name.startswith("SHA256SUMS") or path.name in unlisted or not path.is_file():
                continue
            lines.append(f"{_sha256(path)} *{path.name}\n")
        sums = "".join(lines).encode()
        (directory / "SHA256SUMS").write_bytes(sums)
        if self.signer is not None:
            (directory / "SHA256SUMS.gpg").write_bytes(self.signer.detach_sign(sums))


def ubuntu_files(tag: str, arch: str = "amd64", size: int = 4096) -> dict[str, bytes]:
    """Stand-ins for a tarball's ./<arch>/ files; the same tag gives the same bytes."""

    def blob(name: str) -> bytes:
        seed = f"{tag}:{name}:".encode()
        return (seed * (size // len(seed) + 1))[:size]

    names = ["linux", "initrd", "pxelinux.cfg/default", "grub/grub.cfg"]
    names += ["pxelinux.0", "ldlinux.c32", "bootx64.efi", "grubx64.efi"] if arch == "amd64" else []
    names += ["bootaa64.efi", "grubaa64.efi"] if arch == "arm64" else []
    # The shim and GRUB as UEFI applications with SBAT data, as pxeimport judges them before serving.
    files = {name: blob(name) for name in names}
    for name in names:
        if name.endswith(".efi"):
            files[name] = (stand_in_shim if name.startswith("boot") else stand_in_grub)(files[name])
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
