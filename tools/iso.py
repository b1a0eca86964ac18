"""A stand-in for Ubuntu's live-server ISO, made with real ISO tooling (xorriso, Debian package `xorriso`).

The real image (e.g. ubuntu-24.04.x-live-server-amd64.iso) is ISO 9660 with Rock Ridge and Joliet,
volume id "Ubuntu-Server 24.04.x LTS amd64", the kernel and initrd in casper/ (`vmlinuz`, `initrd`,
and on some point releases the HWE pair `hwe-vmlinuz`, `hwe-initrd`) and a one-line `.disk/info`.
This builds the same shape from the caller's bytes (or files, e.g. Debian's real netboot kernel), plus
whatever symlinks or FIFOs a test needs to see refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

Content = bytes | Path


def live_server_members(
    kernel: Content, initrd: Content, hwe: tuple[Content, Content] | None = None, version: str = "24.04.3"
) -> dict[str, Content]:
    """{member path: content} of a live-server ISO: casper/vmlinuz, casper/initrd, the HWE pair if given."""
    members: dict[str, Content] = {
        ".disk/info": f'Ubuntu-Server {version} LTS "Noble Numbat" - Release amd64\n'.encode(),
        "casper/vmlinuz": kernel,
        "casper/initrd": initrd,
    }
    if hwe is not None:
        members["casper/hwe-vmlinuz"], members["casper/hwe-initrd"] = hwe
    return members


def make_iso(
    path: Path,
    members: Mapping[str, Content],
    *,
    symlinks: Mapping[str, str] | None = None,
    fifos: tuple[str, ...] = (),
    volume_id: str = "Ubuntu-Server 24.04.3 LTS amd64",
    rock_ridge: bool = True,
    joliet: bool = True,
) -> Path:
    """Write an ISO 9660 image to `path`, holding `members` ({path in the image: bytes, or a file to
    copy}), `symlinks` ({path: target}) and `fifos`; return `path`. Rock Ridge and Joliet as Ubuntu's
    images have them, unless turned off (then long names are cut to ISO 9660's 8.3)."""
    xorriso = shutil.which("xorriso")
    if xorriso is None:
        raise FileNotFoundError("xorriso is not installed (apt-get install xorriso)")
    with tempfile.TemporaryDirectory(prefix="iso-tree-") as tree_name:
        tree = Path(tree_name)
        for name, content in members.items():
            target = _place(tree, name)
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
        for name, link_target in (symlinks or {}).items():
            _place(tree, name).symlink_to(link_target)
        for name in fifos:
            os.mkfifo(_place(tree, name))
        # -r: Rock Ridge with sane owners and modes; -J: Joliet.
        extensions = ["-r" if rock_ridge else "--norock", *(["-J"] if joliet else [])]
        subprocess.run(
            [xorriso, "-as", "mkisofs", *extensions, "-V", volume_id, "-o", str(path), str(tree)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return path


def _place(tree: Path, name: str) -> Path:
    target = tree / name.strip("/")
    if tree.resolve() not in target.resolve().parents:
        raise ValueError(f"member {name!r} is outside the image")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target
