"""The benchmark's archives: Debian 12's netboot files (or stand-ins) per arch and release, and big initrds."""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from tools.archive import ArchiveTree
from tools.signing import ArchiveSigner

ARCHES = ("amd64", "i386")
RELEASES = ("bookworm", "trixie", "forky")
CURRENT_RELEASE = "bookworm"
# The 2012 script knows only this installer directory; pxeimport reads it from SHA256SUMS.
INSTALLER_DIR = "ubuntu-installer"
LOADER_FILES = ("pxelinux.0", "boot-screens/ldlinux.c32")
INSTALL_FILES = ("linux", "initrd.gz")
BLOCK = 1 << 20
MiB = 1 << 20
KiB = 1 << 10


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


@dataclass(frozen=True)
class Scale:
    """How big the archives are: Debian's real files, or stand-ins of these sizes."""

    name: str
    real_files: bool
    linux_bytes: int
    initrd_bytes: int
    small_initrd: int
    big_initrd: int
    repeat: int
    # One file behind limit_rate (against aria2c), and an ISO-sized one (peak RSS).
    limited_big: int
    iso_big: int


SCALES = {
    # The rate-limited big file is 256 MiB, not the 1 GiB: single curl would take 9 minutes of
    # the run at 2 MB/s, and the ratio to aria2c does not depend on the size once both use every connection.
    "full": Scale("full", True, 0, 0, 10 * MiB, 1024 * MiB, 3, 256 * MiB, 3072 * MiB),
    "quick": Scale("quick", False, 512 * KiB, 2 * MiB, 10 * MiB, 128 * MiB, 1, 32 * MiB, 256 * MiB),
    "tiny": Scale("tiny", False, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 1, 1 * MiB, 2 * MiB),
}
# Stand-in loader sizes, close to syslinux 6's.
LOADER_SIZES = {"pxelinux.0": 42 * KiB, "boot-screens/ldlinux.c32": 120 * KiB}


@dataclass(frozen=True)
class Wanted:
    """One file an import needs: where it is below the served root, and its size."""

    arch: str
    release: str
    name: str
    path: str
    size: int

    @property
    def local_name(self) -> str:
        """A flat file name, distinct per arch and release (for curl's downloads)."""
        return f"{self.arch}-{self.release}-{self.name.replace('/', '-')}"


@dataclass(frozen=True)
class Archive:
    """A built archive, served below `prefix` of the web root."""

    prefix: str
    arches: tuple[str, ...]
    releases: tuple[str, ...]
    current_release: str
    files: tuple[Wanted, ...]

    @property
    def image_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def initrd(self) -> Wanted:
        """The biggest initrd (of the current release, for a one-release archive)."""
        return max((f for f in self.files if f.name == "initrd.gz"), key=lambda f: f.size)


def size_name(size: int) -> str:
    """1 GiB, 10 MiB, 0.25 MiB."""
    return f"{size // (1 << 30)} GiB" if size >= 1 << 30 and size % (1 << 30) == 0 else f"{size / MiB:g} MiB"


def write_stand_in(path: Path, size: int, seed: str) -> Path:
    """`size` pseudo-random bytes, written a block at a time (never held in memory); distinct per `seed`."""
    block = random.Random(seed).randbytes(BLOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for number, start in enumerate(range(0, size, BLOCK)):
            chunk = number.to_bytes(8, "big") + block[8:]
            out.write(chunk[: min(BLOCK, size - start)])
    return path


def copy_with_trailer(source: Path, target: Path, trailer: str) -> Path:
    """A copy of `source` with `trailer` appended, so each release's file has its own hash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, BLOCK)
        out.write(f"\npxeimport-bench {trailer}\n".encode())
    return target


def real_netboot_files() -> dict[str, dict[str, Path]]:
    """Debian 12's netboot directory per arch, from var/cache (tools.demo fetches it once if missing)."""
    from tools import demo

    try:
        files = demo.netboot_files(demo.fetch_debs())
    except demo.DemoError as exc:
        raise BenchError(f"could not get Debian 12's netboot files: {exc}") from exc
    return {arch: files[arch] for arch in ARCHES}


def stand_in_files(scale: Scale, scratch: Path) -> dict[str, dict[str, Path]]:
    """Stand-ins for the files an import needs, per arch, of the scale's sizes."""
    sizes = {**LOADER_SIZES, "linux": scale.linux_bytes, "initrd.gz": scale.initrd_bytes}
    return {
        arch: {name: write_stand_in(scratch / arch / name, size, f"{arch}:{name}") for name, size in sizes.items()}
        for arch in ARCHES
    }


def release_files(base: dict[str, Path], arch: str, release: str, scratch: Path) -> dict[str, Path]:
    """The arch's files for `release`: kernel and initrd made distinct per release, the rest shared."""
    files = dict(base)
    for name in INSTALL_FILES:
        files[name] = copy_with_trailer(base[name], scratch / release / arch / name, f"{release}/{arch}")
    return files


def wanted(tree: ArchiveTree, prefix: str, arch: str, release: str, names: tuple[str, ...]) -> list[Wanted]:
    """The files `names` of one netboot dir, by their path below the web root (through `current`)."""
    images = tree.images_path(release, arch)
    result = []
    for name in names:
        path = images / tree.netboot_path(release, arch) / name
        relative = f"{prefix}{path.relative_to(tree.root).as_posix()}"
        result.append(Wanted(arch, release, name, relative, path.stat().st_size))
    return result


def build_full(web_root: Path, signer: ArchiveSigner, scale: Scale, scratch: Path) -> Archive:
    """The 2 arches x 3 releases archive, signed, below `<web_root>/full/`."""
    base = real_netboot_files() if scale.real_files else stand_in_files(scale, scratch / "base")
    tree = ArchiveTree(web_root / "full", installer_dir=INSTALLER_DIR, signer=signer)
    files: list[Wanted] = []
    for arch in ARCHES:
        for release in RELEASES:
            tree.publish(release, arch, release_files(base[arch], arch, release, scratch))
        files += wanted(tree, "full/", arch, CURRENT_RELEASE, LOADER_FILES)
        files += [w for release in RELEASES for w in wanted(tree, "full/", arch, release, INSTALL_FILES)]
    return Archive("full/", ARCHES, RELEASES, CURRENT_RELEASE, tuple(files))


def build_single(web_root: Path, signer: ArchiveSigner, name: str, initrd_bytes: int, scratch: Path) -> Archive:
    """One arch and release whose initrd is `initrd_bytes` long, below `<web_root>/<name>/`."""
    arch, release = ARCHES[0], CURRENT_RELEASE
    sizes = {**LOADER_SIZES, "linux": min(MiB, initrd_bytes // 8), "initrd.gz": initrd_bytes}
    base = {n: write_stand_in(scratch / name / n, size, f"{name}:{n}") for n, size in sizes.items()}
    tree = ArchiveTree(web_root / name, installer_dir=INSTALLER_DIR, signer=signer)
    tree.publish(release, arch, base)
    prefix = f"{name}/"
    files = wanted(tree, prefix, arch, release, LOADER_FILES) + wanted(tree, prefix, arch, release, INSTALL_FILES)
    return Archive(prefix, (arch,), (release,), release, tuple(files))


def describe(scale: Scale, full: Archive, big: Archive | None) -> str:
    """One paragraph on what was served, for BENCHMARKS.md."""
    per_import = f"{len(full.files)} files of {full.image_bytes / MiB:.1f} MiB per import"
    if scale.real_files:
        from tools import demo

        debs = ", ".join(deb.name for arch in ARCHES if (deb := demo.cached_deb(arch)))
        files = (
            f"Debian 12's netboot directories ({debs}), published whole for each of {', '.join(RELEASES)}, "
            "with a release-specific trailer appended to `linux` and `initrd.gz` so each release has its own hashes"
        )
    else:
        sizes = f"`linux` {scale.linux_bytes} B, `initrd.gz` {scale.initrd_bytes} B"
        files = f"pseudo-random stand-ins ({scale.name} scale: {sizes})"
    text = (
        f"{files}; {per_import}; layout `dists/<release>/main/installer-<arch>/current/images/netboot/"
        f"{INSTALLER_DIR}/<arch>/` (the installer directory the 2012 script knows), each SHA256SUMS listed in a "
        "Release signed by a throwaway key (InRelease, Release.gpg)"
    )
    if big:
        text += (
            f". For the big-initrd cases, two one-arch archives of stand-ins: a {size_name(scale.small_initrd)} "
            f"and a {size_name(big.initrd().size)} initrd, written a block at a time"
        )
    return text + "."
