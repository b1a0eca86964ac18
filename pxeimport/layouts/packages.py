"""Pre-boot loaders from a signed Debian-style package archive, by the chain apt uses.

    <dists>/<suite>/InRelease          clearsigned; verified (gpgv) before anything in it is read
      -> main/binary-<arch>/Packages.xz (or .gz, whichever InRelease lists; its SHA-256 must match)
      -> the newest version of each wanted package across the suites (the pockets of a release)
      -> <archive root>/<Filename> of that .deb, its SHA-256 from Packages
      -> the wanted file out of the .deb's data.tar (regular files only, no links, no "..")

Fetching is injected (`fetch_bytes(url, listed sha256 or None) -> bytes`, raising NotFound for a 404;
`download(url, dest, sha256)` writing the file), and so is the signature check (`verify_release`),
so the caller decides about caches, proxies and how strictly to judge a Release (issue 12's
Valid-Until and replay checks belong in that callable). Packages and .deb files are read with
python-debian; versions are compared with its apt_pkg-free `NativeVersion` (Debian Policy 5.6.12).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import posixpath
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from debian.deb822 import Deb822, Packages
from debian.debian_support import NativeVersion

from pxeimport.extraction import DebError, Extracted, extract_member
from pxeimport.layouts.base import LayoutError
from pxeimport.layouts.loaderfiles import LOADER_FILES, LoaderFile
from pxeimport.lib import InvalidName, check_name, sha256_file
from pxeimport.trust import ReleaseFormatError, SignatureError, parse_release, verify_clearsigned


class FetchBytes(Protocol):  # (url, the SHA-256 a verified parent lists or None) -> body; NotFound on 404
    def __call__(self, url: str, sha256: str | None = None, /) -> bytes: ...


# (InRelease bytes, its URL) -> the signed text only; SignatureError when it does not verify.
VerifyRelease = Callable[[bytes, str], bytes]
# (url, dest, expected SHA-256) -> anything; writes the file at dest or raises.
Download = Callable[[str, Path, str], object]

# Ubuntu's pockets of a release, all in one archive. Debian keeps <codename>-security in a
# separate archive: give it as its own Suite.
UBUNTU_POCKETS = ("", "-updates", "-security")
DEBIAN_POCKETS = ("", "-updates")
# Packages index compressions, in order of preference; python's lzma and gzip read them.
PACKAGES_INDEXES = ("Packages.xz", "Packages.gz")
# A loader is a few MB; a Packages index of Debian main is ~50 MB decompressed.
MAX_PACKAGES_BYTES = 256 << 20


class PackageError(LayoutError):
    """The package archive lacks what is wanted, or lists or ships something malformed or hostile."""


@dataclass(frozen=True)
class Suite:
    """One signed index: `dists_url` (ending "dists/") and a suite name such as "noble-updates"."""

    dists_url: str
    name: str

    def __post_init__(self) -> None:
        if not self.dists_url.endswith("/dists/"):
            raise PackageError(f"{self.dists_url}: a package archive's URL must end with dists/")
        check_name("suite", self.name)

    @property
    def inrelease_url(self) -> str:
        return f"{self.dists_url}{self.name}/InRelease"

    @property
    def archive_root(self) -> str:
        """The URL a Packages `Filename` is relative to: the parent of dists/."""
        return self.dists_url[: -len("dists/")]


def suites(dists_url: str, codename: str, pockets: Iterable[str] = UBUNTU_POCKETS) -> list[Suite]:
    """The suites `<codename><pocket>` of one archive; `dists_url` must end with "dists/"."""
    check_name("release", codename)
    return [Suite(dists_url.rstrip("/") + "/", codename + pocket) for pocket in pockets]


@dataclass(frozen=True)
class DebPackage:
    """One .deb as a verified Packages index lists it."""

    package: str
    version: str
    suite: str
    url: str
    sha256: str
    size: int
    # The Packages entry's Built-Using field ("shim (= 16.1-2~deb12u1)"), "" when it has none.
    built_using: str = ""

    def built_from(self, source: str) -> str | None:
        """The version of `source` this package was built from, by its Built-Using field; None if unnamed."""
        for relation in self.built_using.split(","):
            match = re.fullmatch(r"\s*(\S+)\s*\(\s*=\s*([^)\s]+)\s*\)\s*", relation)
            if match and match.group(1) == source:
                return match.group(2)
        return None


@dataclass(frozen=True)
class DebMember:
    """A loader to install: its name in the TFTP root, the .deb that holds it, the paths to try; an
    `optional` one may be absent from the .deb."""

    name: str
    deb: DebPackage
    members: tuple[str, ...]
    optional: bool = False

    @property
    def origin(self) -> str:
        """ "<deb url>#<first member path>", for records and messages."""
        return f"{self.deb.url}#{self.members[0]}"


def gpgv_verifier(keyrings: Sequence[Path]) -> VerifyRelease:
    """A `verify_release` that checks an InRelease with gpgv against `keyrings`."""

    def verify(data: bytes, url: str) -> bytes:
        return verify_clearsigned(data, keyrings, name=url).content

    return verify


def resolve_loaders(
    fetch_bytes: FetchBytes,
    verify_release: VerifyRelease,
    suite_list: Sequence[Suite],
    arch: str,
    *,
    component: str = "main",
    files: Sequence[LoaderFile] | None = None,
) -> list[DebMember]:
    """The loaders for `arch`, each from the newest version of its package across `suite_list`.

    Every suite must have a verifying InRelease (a missing one is an error, as in apt: a pocket
    that vanished could hide a newer shim). SignatureError for a bad signature or an index that
    does not match its InRelease; PackageError for a missing or malformed index or package.
    """
    check_name("architecture", arch)
    wanted = tuple(files if files is not None else LOADER_FILES.get(arch, ()))
    if not wanted:
        raise PackageError(f"no pre-boot loaders are known for {arch} (known: {', '.join(sorted(LOADER_FILES))})")
    packages = {f.package for f in wanted}
    found: dict[str, list[DebPackage]] = {name: [] for name in packages}
    for suite in suite_list:
        for deb in suite_packages(fetch_bytes, verify_release, suite, arch, packages, component=component):
            found[deb.package].append(deb)
    where = ", ".join(s.inrelease_url for s in suite_list)
    required = {f.package for f in wanted if not f.optional}
    chosen = {name: newest(debs, name, where) for name, debs in found.items() if name in required}
    loaders: list[DebMember] = []
    for f in wanted:
        if any(loader.name == f.name for loader in loaders):
            continue  # an optional alternative of a name already resolved
        picked = chosen.get(f.package) or _helper_of(found[f.package], f, chosen, where)
        if picked is not None:
            loaders.append(DebMember(f.name, picked, f.members, optional=f.optional))
    return loaders


def _helper_of(
    debs: Sequence[DebPackage], f: LoaderFile, chosen: Mapping[str, DebPackage], where: str
) -> DebPackage | None:
    """The newest of an optional package's `debs` built from the same source version as the chosen
    `f.same_build_as` (Debian's shim-helpers-*-signed beside shim-signed: both "Built-Using: shim (= v)");
    None when no version is (a partly synced mirror: the set goes without, and the Secure Boot check says so)."""
    if f.same_build_as:
        build = chosen[f.same_build_as].built_from("shim") if f.same_build_as in chosen else None
        debs = [deb for deb in debs if build is not None and deb.built_from("shim") == build]
    return newest(debs, f.package, where) if debs else None


def newest(debs: Sequence[DebPackage], package: str, where: str) -> DebPackage:
    """The highest version by Debian's ordering; the first listed among equal versions.

    PackageError when there is none, or when one version is listed with two different hashes.
    """
    if not debs:
        raise PackageError(f"package {package} is not listed in {where}")
    best = debs[0]
    for deb in debs[1:]:
        version, best_version = NativeVersion(deb.version), NativeVersion(best.version)
        if version > best_version:
            best = deb
        elif version == best_version and deb.sha256 != best.sha256:
            raise PackageError(
                f"{package} {deb.version} is listed twice with different SHA-256: "
                f"{best.url} ({best.suite}) {best.sha256} and {deb.url} ({deb.suite}) {deb.sha256}"
            )
    return best


def suite_packages(
    fetch_bytes: FetchBytes,
    verify_release: VerifyRelease,
    suite: Suite,
    arch: str,
    packages: set[str],
    *,
    component: str = "main",
) -> list[DebPackage]:
    """The entries of `packages` in one suite's verified Packages index for `arch`."""
    url = suite.inrelease_url
    signed = verify_release(fetch_bytes(url), url).decode("utf-8", errors="replace")
    _check_suite_name(signed, suite, url)
    try:
        entries = parse_release(signed, name=url)
    except ReleaseFormatError as exc:
        raise PackageError(str(exc)) from exc
    check_name("component", component)
    base = f"{component}/binary-{arch}/"
    listed = [base + index for index in PACKAGES_INDEXES if base + index in entries]
    if not listed:
        raise PackageError(f"{url} lists no {base}{{{','.join(PACKAGES_INDEXES)}}}")
    path = listed[0]
    index_url = f"{suite.dists_url}{suite.name}/{path}"
    expected = entries[path]
    data = fetch_bytes(index_url, expected.sha256)
    actual = hashlib.sha256(data).hexdigest()
    if len(data) != expected.size or actual != expected.sha256:
        raise SignatureError(
            index_url,
            f"does not match the signed {url} ({len(data)} bytes, SHA-256 {actual}; "
            f"InRelease says {expected.size} bytes, {expected.sha256})",
        )
    text = _decompress(data, index_url)
    return [_deb(paragraph, suite, index_url) for paragraph in _paragraphs(text, packages, arch)]


def _check_suite_name(signed: str, suite: Suite, url: str) -> None:
    """Refuse a validly signed index of another suite served in this one's place.

    apt compares the name asked for with the Release's Suite and Codename fields; Ubuntu's
    noble-updates says "Suite: noble-updates, Codename: noble"; Debian's bookworm-updates says
    "Suite: oldstable-updates, Codename: bookworm-updates" (its Suite moves with each release).
    """
    fields = Deb822(signed)
    names = {fields.get("Suite", ""), fields.get("Codename", "")} - {""}
    if suite.name not in names:
        said = " / ".join(sorted(names)) or "no Suite or Codename field"
        raise PackageError(f"{url}: signed for suite {said}, not {suite.name}")


def _decompress(data: bytes, url: str) -> str:
    try:
        if url.endswith(".xz"):
            with lzma.LZMAFile(io.BytesIO(data)) as f:
                raw = f.read(MAX_PACKAGES_BYTES + 1)
        else:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                raw = f.read(MAX_PACKAGES_BYTES + 1)
    except (lzma.LZMAError, OSError, EOFError, zlib.error) as exc:
        raise PackageError(f"{url}: cannot be decompressed ({exc})") from exc
    if len(raw) > MAX_PACKAGES_BYTES:
        raise PackageError(f"{url}: more than {MAX_PACKAGES_BYTES} bytes decompressed")
    return raw.decode("utf-8", errors="replace")


# Paragraphs are separated by lines that are empty or hold only spaces and tabs (deb822(5)).
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")
_PACKAGE_FIELD = re.compile(r"^Package:[ \t]*(\S+)[ \t]*$", re.MULTILINE)


def _paragraphs(text: str, packages: set[str], arch: str) -> Iterable[Packages]:
    """The Packages paragraphs of `packages` for `arch` (or "all"), parsed by python-debian.

    Only paragraphs whose Package field names a wanted package are parsed: Debian main has
    ~63,000 paragraphs, and parsing them all takes seconds where this takes a tenth.
    """
    for chunk in _PARAGRAPH_BREAK.split(text):
        match = _PACKAGE_FIELD.search(chunk)
        if match is None or match.group(1) not in packages:
            continue
        paragraph = Packages(chunk)
        if paragraph.get("Architecture") in (arch, "all"):
            yield paragraph


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _deb(paragraph: Packages, suite: Suite, index_url: str) -> DebPackage:
    """The .deb a paragraph names; PackageError for a missing field or an unsafe Filename."""
    package = paragraph.get("Package", "")
    missing = [field for field in ("Version", "Filename", "Size", "SHA256") if not paragraph.get(field)]
    if missing:
        raise PackageError(f"{index_url}: {package} has no {', '.join(missing)} field")
    filename = paragraph["Filename"]
    parts = filename.split("/")
    if filename.startswith("/") or ":" in filename or "\\" in filename or ".." in parts or "" in parts:
        raise PackageError(f"{index_url}: {package} has an unsafe Filename {filename!r}")
    sha256 = paragraph["SHA256"].strip().lower()
    if not _SHA256_RE.match(sha256) or not paragraph["Size"].isdigit():
        raise PackageError(f"{index_url}: {package} has a malformed SHA256 or Size field")
    return DebPackage(
        package=package,
        version=paragraph["Version"],
        suite=suite.name,
        url=suite.archive_root + posixpath.normpath(filename),
        sha256=sha256,
        size=int(paragraph["Size"]),
        built_using=paragraph.get("Built-Using", ""),
    )


def fetch_loaders(
    download: Download, loaders: Sequence[DebMember], workdir: Path, dest_dir: Path
) -> dict[str, Extracted]:
    """Download each .deb once into `workdir`, check them all, then extract each loader to `dest_dir`/<name>.

    Every .deb is checked against its Packages entry here too (size and SHA-256), whatever
    `download` checked, and before anything is extracted. On any failure `dest_dir` is left as
    it was (what this call extracted is removed). PackageError for a mismatch or an extraction
    problem; what `download` raises propagates.
    """
    debs: dict[str, Path] = {}
    for loader in loaders:
        try:
            check_name("file", loader.name)
        except InvalidName as exc:
            raise PackageError(f"{loader.origin}: {exc}") from exc
        deb = loader.deb
        if deb.url in debs:
            continue
        path = workdir / f"{len(debs):02d}-{deb.package}.deb"
        download(deb.url, path, deb.sha256)
        size, actual = path.stat().st_size, sha256_file(path)
        if size != deb.size or actual != deb.sha256:
            raise PackageError(
                f"{deb.url}: {size} bytes, SHA-256 {actual}; its Packages index ({deb.suite}) "
                f"says {deb.size} bytes, {deb.sha256}"
            )
        debs[deb.url] = path
    result: dict[str, Extracted] = {}
    try:
        for loader in loaders:
            try:
                _, result[loader.name] = extract_member(
                    debs[loader.deb.url], loader.members, dest_dir / loader.name, label=loader.deb.url
                )
            except DebError:
                if not loader.optional:  # an optional one (MokManager) the .deb lacks: the set goes without
                    raise
    except DebError as exc:
        for extracted in result.values():
            extracted.path.unlink(missing_ok=True)
        raise PackageError(str(exc)) from exc
    except BaseException:
        for extracted in result.values():
            extracted.path.unlink(missing_ok=True)
        raise
    return result
