"""Build a signed Debian-style package archive on disk, from real or generated .deb files.

<root>/pool/<component>/<p>/<package>/<package>_<version>_<arch>.deb
<root>/dists/<suite>/<component>/binary-<arch>/Packages.xz, Packages.gz
<root>/dists/<suite>/Release, InRelease        (InRelease clearsigned by an ArchiveSigner)

The .deb files are built and read with real tools: `apt-get download` fetches Debian's own
(cached in var/cache/debs, shared with the demo), `dpkg-deb` builds and repacks them, and the
Packages paragraphs are the packages' own control fields plus Filename, Size and SHA256, as
dak and reprepro write them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from debian.deb822 import Packages
from debian.debfile import DebFile

from tools import demo
from tools.signing import ArchiveSigner


@dataclass(frozen=True)
class Symlink:
    """A symbolic link to put in a generated .deb, pointing at `target`."""

    target: str


def cached_debs(packages: Iterable[str]) -> dict[str, Path]:
    """Debian's .deb of each package (for this machine's architecture), from the cache or apt-get.

    demo.DemoError when apt-get cannot download one (no apt lists, no network to the mirror).
    """
    demo.DEB_CACHE.mkdir(parents=True, exist_ok=True)
    names = list(packages)
    missing = [name for name in names if demo.cached_deb_named(name) is None]
    if missing:
        demo.apt_download(missing)
    found = {}
    for name in names:
        deb = demo.cached_deb_named(name)
        if deb is None:
            raise demo.DemoError(f"apt-get download reported success but left no {name}_*.deb")
        found[name] = deb
    return found


def _dpkg_deb(*args: str) -> None:
    subprocess.run(["dpkg-deb", *args], check=True, capture_output=True, timeout=120)


def build_deb(
    workdir: Path,
    package: str,
    version: str,
    files: Mapping[str, bytes | Symlink],
    *,
    arch: str = "all",
    compression: str = "xz",
    fields: Mapping[str, str] | None = None,
) -> Path:
    """A .deb built by `dpkg-deb -b` holding `files` (paths relative to /), root-owned.

    `compression` is dpkg-deb's -Z type: xz (Debian's), zstd (Ubuntu's since 21.10), gzip. `fields`: more
    control fields (e.g. Built-Using), which the archive's Packages paragraph carries too.
    """
    tree = workdir / f"{package}_{version}_{arch}.tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    control = (
        f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
        f"Maintainer: pxeimport tests <tests@example.org>\nDescription: stand-in {package}\n"
        f" generated for the pxeimport tests.\n"
    ) + "".join(f"{name}: {value}\n" for name, value in (fields or {}).items())
    (tree / "DEBIAN" / "control").write_text(control)
    for name, content in files.items():
        target = tree / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            target.symlink_to(content.target)
        else:
            target.write_bytes(content)
    deb = workdir / f"{package}_{version.split(':')[-1]}_{arch}.deb"
    _dpkg_deb("--root-owner-group", f"-Z{compression}", "-b", str(tree), str(deb))
    shutil.rmtree(tree)
    return deb


def with_version(deb: Path, version: str, workdir: Path) -> Path:
    """`deb` repacked (dpkg-deb -R, then -b) with its control's Version set to `version`."""
    tree = workdir / f"{deb.stem}.repack"
    shutil.rmtree(tree, ignore_errors=True)
    _dpkg_deb("-R", str(deb), str(tree))
    control = tree / "DEBIAN" / "control"
    paragraph = Packages(control.read_text())
    paragraph["Version"] = version
    control.write_text(paragraph.dump() or "")
    out = workdir / f"{paragraph['Package']}_{version.split(':')[-1]}_{paragraph['Architecture']}.deb"
    _dpkg_deb("--root-owner-group", "-b", str(tree), str(out))
    shutil.rmtree(tree)
    return out


def with_hostile_data(deb: Path, extra: Mapping[str, bytes], workdir: Path) -> Path:
    """`deb` with members dpkg-deb would never write (e.g. "./../../etc/x") added to its data.tar.

    Taken apart and put back together with binutils' `ar`, in the order deb(5) requires.
    """
    parts = workdir / f"{deb.stem}.parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    subprocess.run(["ar", "x", str(deb.absolute())], cwd=parts, check=True, capture_output=True)
    data = next(parts.glob("data.tar*"))
    with tarfile.open(data) as original:
        members = [(info, original.extractfile(info).read() if info.isreg() else None) for info in original]  # type: ignore[union-attr]
    data.unlink()
    with tarfile.open(parts / "data.tar.xz", "w:xz") as out:
        for info, content in members:
            out.addfile(info, io.BytesIO(content) if content is not None else None)
        for name, content in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            out.addfile(info, io.BytesIO(content))
    hostile = workdir / f"{deb.stem}-hostile.deb"
    hostile.unlink(missing_ok=True)
    control = next(parts.glob("control.tar*")).name
    command = ["ar", "rc", str(hostile.absolute()), "debian-binary", control, "data.tar.xz"]
    subprocess.run(command, cwd=parts, check=True, capture_output=True)
    shutil.rmtree(parts)
    return hostile


@dataclass
class _Entry:
    paragraph: Packages
    component: str


@dataclass
class _Suite:
    codename: str
    entries: list[_Entry] = field(default_factory=list)


class PackageArchiveTree:
    """A package archive under `root`; `add` puts a .deb in the pool, `publish` writes a suite's indexes."""

    def __init__(self, root: Path, signer: ArchiveSigner | None = None) -> None:
        self.root = root
        self.signer = signer
        self._suites: dict[str, _Suite] = {}
        (root / "dists").mkdir(parents=True, exist_ok=True)

    @property
    def dists(self) -> Path:
        return self.root / "dists"

    def add(self, suite: str, deb: Path, *, component: str = "main", filename: str | None = None) -> str:
        """Copy `deb` into the pool and list it in `suite`; return its Filename.

        `filename` overrides the Filename written into Packages (to list a hostile path).
        """
        control = DebFile(deb).debcontrol()
        package, version, arch = control["Package"], control["Version"], control["Architecture"]
        pool = f"pool/{component}/{package[0]}/{package}/{package}_{version.split(':')[-1]}_{arch}.deb"
        target = self.root / pool
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(deb, target)
        data = target.read_bytes()
        paragraph = Packages()
        for key, value in control.items():
            paragraph[key] = value
        paragraph["Filename"] = filename or pool
        paragraph["Size"] = str(len(data))
        paragraph["SHA256"] = hashlib.sha256(data).hexdigest()
        self._suite(suite).entries.append(_Entry(paragraph, component))
        return pool

    def _suite(self, suite: str) -> _Suite:
        codename = suite.split("-")[0]
        return self._suites.setdefault(suite, _Suite(codename))

    def publish(
        self,
        suite: str,
        archs: Sequence[str] = ("amd64", "arm64"),
        *,
        indexes: Sequence[str] = ("Packages.xz", "Packages.gz"),
        suite_field: str | None = None,
    ) -> Path:
        """Write `suite`'s Packages indexes for `archs`, its Release, and (signed) InRelease.

        An "all" package is listed for every arch, as in Debian. Release says "Suite: <suite>",
        "Codename: <codename>" as Ubuntu's pockets do, or `suite_field` as its Suite.
        """
        top = self.dists / suite
        state = self._suite(suite)
        listed: list[tuple[str, bytes]] = []
        components = sorted({e.component for e in state.entries} or {"main"})
        for component in components:
            for arch in archs:
                text = "\n".join(
                    (e.paragraph.dump() or "")
                    for e in state.entries
                    if e.component == component and e.paragraph["Architecture"] in (arch, "all")
                )
                directory = top / component / f"binary-{arch}"
                directory.mkdir(parents=True, exist_ok=True)
                for index in indexes:
                    data = _compress(index, text.encode())
                    (directory / index).write_bytes(data)
                    listed.append((f"{component}/binary-{arch}/{index}", data))
        self.write_release(suite, listed, suite_field=suite_field, components=components, archs=archs)
        return top

    def write_release(
        self,
        suite: str,
        listed: Sequence[tuple[str, bytes]],
        *,
        suite_field: str | None = None,
        components: Sequence[str] = ("main",),
        archs: Sequence[str] = ("amd64",),
    ) -> None:
        top = self.dists / suite
        top.mkdir(parents=True, exist_ok=True)
        lines = "".join(f" {hashlib.sha256(d).hexdigest()} {len(d):>16} {p}\n" for p, d in listed)
        text = (
            f"Origin: pxeimport tests\nSuite: {suite_field or suite}\nCodename: {self._suite(suite).codename}\n"
            f"Architectures: {' '.join(archs)}\nComponents: {' '.join(components)}\nSHA256:\n{lines}"
        ).encode()
        (top / "Release").write_bytes(text)
        if self.signer is not None:
            (top / "InRelease").write_bytes(self.signer.clearsign(text))


def _compress(index: str, data: bytes) -> bytes:
    if index.endswith(".xz"):
        return lzma.compress(data)
    if index.endswith(".gz"):
        return gzip.compress(data, mtime=0)
    return data
