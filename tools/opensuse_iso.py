"""A stand-in for openSUSE's ISO directories (Leap 15's distribution/leap/<release>/iso/, Tumbleweed's
tumbleweed/iso/), for the opensuse-iso layout.

<root>/<dir>/<NET ISO>            built by xorriso (tools.iso) in the real NET ISO's shape (installation-images,
                                  data/boot/boot.file_list and data/root/config): boot/x86_64/loader/linux and
                                  initrd (boot/aarch64/linux and initrd on aarch64), the installation system's
                                  parts beside them in boot/<arch>/ (config, root, common,
                                  cracklib-dict-full.rpm, bind), and CHECKSUMS (sha256sum lines of boot/)
<root>/<dir>/<NET ISO>.sha256     one coreutils line, "<hex>  <ISO name>" (as sha256sum writes it), with a
                                  detached <ISO>.sha256.asc, clearsigned (older builds), or unsigned
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tools.iso import Content, make_iso
from tools.signing import ArchiveSigner

STYLES = ("detached", "clearsigned", "unsigned")
# The installation system's config, as installation-images writes it: per kind, the parts linuxrc loads.
CONFIG = (
    "root: common root cracklib-dict-full.rpm bind ?yast2-trans-${lang}.rpm ?configfiles\n"
    "rescue: common rescue ?cracklib-dict-full.rpm\n"
    "configfiles: control.xml?copy=1\n"
)
PARTS = ("root", "common", "cracklib-dict-full.rpm", "bind")


def _bytes(content: Content) -> bytes:
    return content.read_bytes() if isinstance(content, Path) else content


def net_iso(
    path: Path, kernel: Content, initrd: Content, basearch: str = "x86_64", config: str = CONFIG, label: str = "x"
) -> Path:
    """A NET ISO holding `kernel`, `initrd`, the config `config` and installation-system parts ("<label> root",
    ...) at the arch's paths, and CHECKSUMS over them."""
    boot = f"boot/{basearch}"
    loader = f"{boot}/loader" if basearch == "x86_64" else boot
    members: dict[str, Content] = {
        f"{loader}/linux": kernel,
        f"{loader}/initrd": initrd,
        f"{boot}/config": config.encode(),
    }
    members |= {f"{boot}/{part}": f"{label} {part}\n".encode() * 100 for part in PARTS}
    sums = "".join(f"{hashlib.sha256(_bytes(c)).hexdigest()}  {p}\n" for p, c in sorted(members.items()))
    members["CHECKSUMS"] = sums.encode()
    return make_iso(path, members, volume_id=f"openSUSE-{label}"[:32])


class IsoDirectory:
    """One ISO directory below `root` (e.g. "distribution/leap/15.6/iso"), its ISOs and their .sha256 files."""

    def __init__(self, root: Path, relative: str, signer: ArchiveSigner | None) -> None:
        self.path = root / relative
        self.path.mkdir(parents=True, exist_ok=True)
        self.signer = signer

    def add(self, name: str, iso: Path, style: str = "detached", listed_as: str = "") -> Path:
        """Put `iso` here as `name` with its `name`.sha256 in `style` (STYLES), naming it `listed_as` (default:
        `name`; a build's file may name the unnumbered alias)."""
        assert style in STYLES
        target = self.path / name
        target.write_bytes(iso.read_bytes())
        text = f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {listed_as or name}\n".encode()
        sums, signature = self.path / (name + ".sha256"), self.path / (name + ".sha256.asc")
        signature.unlink(missing_ok=True)
        if style == "clearsigned":
            assert self.signer is not None
            text = self.signer.clearsign(text)
        elif style == "detached":
            assert self.signer is not None
            signature.write_bytes(self.signer.detach_sign(text))
        sums.write_bytes(text)
        return target
