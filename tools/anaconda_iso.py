"""A stand-in for the ISO directories of Fedora, AlmaLinux and Rocky Linux, for the anaconda-iso layout.

<root>/<dir>/<boot ISO>          built by xorriso (tools.iso): .treeinfo, images/pxeboot/vmlinuz,
                                 images/pxeboot/initrd.img, images/install.img, as the real boot ISOs
<root>/<dir>/<checksum list>     in the family's shape: "# <iso>: <size> bytes" and
                                 "SHA256 (<iso>) = <hex>" lines (BSD, as `sha256sum --tag` writes),
                                 clearsigned (Fedora, AlmaLinux), with a detached .sig (Rocky Linux),
                                 or unsigned (CentOS Stream's SHA256SUM)

The .treeinfo is an INI file in productmd's shape: [general]/[release] name and version, [stage2]
mainimage, [images-<arch>] kernel and initrd, [checksums] "<path> = sha256:<hex>".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from tools.iso import Content, make_iso
from tools.signing import ArchiveSigner

STYLES = ("clearsigned", "detached", "unsigned")


def _bytes(content: Content) -> bytes:
    return content.read_bytes() if isinstance(content, Path) else content


def treeinfo(family: str, version: str, basearch: str, members: Mapping[str, Content]) -> bytes:
    """A .treeinfo naming `members` ({path in the tree: content}) with their SHA-256."""
    sums = "\n".join(
        f"{path} = sha256:{hashlib.sha256(_bytes(content)).hexdigest()}" for path, content in sorted(members.items())
    )
    return (
        f"[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n"
        f"[release]\nname = {family}\nshort = {family.split()[0]}\nversion = {version}\n\n"
        f"[general]\nname = {family} {version}\nfamily = {family}\nversion = {version}\narch = {basearch}\n\n"
        f"[stage2]\nmainimage = images/install.img\n\n"
        f"[images-{basearch}]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n\n"
        f"[checksums]\n{sums}\n"
    ).encode()


def boot_iso(
    path: Path, family: str, version: str, kernel: Content, initrd: Content, stage2: Content, basearch: str = "x86_64"
) -> Path:
    """A boot ISO of `family` `version` holding the given kernel, initrd and installer image."""
    members: dict[str, Content] = {
        "images/pxeboot/vmlinuz": kernel,
        "images/pxeboot/initrd.img": initrd,
        "images/install.img": stage2,
    }
    members[".treeinfo"] = treeinfo(family, version, basearch, members)
    return make_iso(path, members, volume_id=f"{family.split()[0]}-{version}-{basearch}"[:32])


class IsoDirectory:
    """One ISO directory below `root` (e.g. "almalinux/9/isos/x86_64"), its ISOs and its checksum list."""

    def __init__(self, root: Path, relative: str, signer: ArchiveSigner | None) -> None:
        self.path = root / relative
        self.path.mkdir(parents=True, exist_ok=True)
        self.signer = signer

    def add(self, name: str, iso: Path) -> Path:
        target = self.path / name
        target.write_bytes(iso.read_bytes())
        return target

    def write_list(self, name: str = "CHECKSUM", style: str = "clearsigned", isos: tuple[str, ...] = ()) -> Path:
        """Write the checksum list `name` over `isos` (default: every .iso here) in `style` (STYLES)."""
        assert style in STYLES
        lines = []
        for iso in isos or tuple(sorted(p.name for p in self.path.glob("*.iso"))):
            data = (self.path / iso).read_bytes()
            lines += [f"# {iso}: {len(data)} bytes", f"SHA256 ({iso}) = {hashlib.sha256(data).hexdigest()}"]
        text = ("\n".join(lines) + "\n").encode()
        target = self.path / name
        for suffix in (".sig", ".asc", ".gpg"):
            (self.path / (name + suffix)).unlink(missing_ok=True)
        if style == "clearsigned":
            assert self.signer is not None
            text = self.signer.clearsign(text)
        elif style == "detached":
            assert self.signer is not None
            (self.path / (name + ".sig")).write_bytes(self.signer.detach_sign(text))
        target.write_bytes(text)
        return target
