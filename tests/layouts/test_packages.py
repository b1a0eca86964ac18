"""Loaders from a signed package archive: InRelease -> Packages -> newest .deb -> the file inside."""

from __future__ import annotations

import hashlib
import lzma
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from pxeimport.extraction import DebError, extract_member
from pxeimport.fetching import Fetcher, FetchError, FetchSettings, NotFound
from pxeimport.layouts.loaderfiles import LOADER_FILES
from pxeimport.layouts.packages import (
    DEBIAN_POCKETS,
    DebMember,
    DebPackage,
    PackageError,
    Suite,
    VerifyRelease,
    fetch_loaders,
    gpgv_verifier,
    newest,
    resolve_loaders,
    suites,
)
from pxeimport.lib import InvalidName
from pxeimport.trust import SignatureError
from tests.support.requirements import require_tool, skip_or_fail
from tools import demo
from tools.httpserver import ArchiveServer
from tools.package_archive import (
    PackageArchiveTree,
    Symlink,
    build_deb,
    cached_debs,
    with_hostile_data,
    with_version,
)
from tools.signing import ArchiveSigner

BASE = "http://packages.example.org/ubuntu/"
DISTS = BASE + "dists/"
SHIM = "usr/lib/shim/shimx64.efi.signed"
SHIM_LATEST = "usr/lib/shim/shimx64.efi.signed.latest"
# Debian's paths (dpkg -c on the bookworm .debs), as the module's table has them.
AMD64_PATHS = {
    "pxelinux": "usr/lib/PXELINUX/pxelinux.0",
    "syslinux-common": "usr/lib/syslinux/modules/bios/ldlinux.c32",
    "shim-signed": SHIM,
    "grub-efi-amd64-signed": "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
}


@pytest.fixture
def tree(tmp_path: Path, signer: ArchiveSigner) -> PackageArchiveTree:
    require_tool("dpkg-deb")
    return PackageArchiveTree(tmp_path / "archive", signer=signer)


@pytest.fixture
def http(tree: PackageArchiveTree) -> Iterator[responses.RequestsMock]:
    """Every URL under BASE answered from the tree as it is at request time; 404 for what is absent."""

    def serve(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        path = tree.root / str(request.url)[len(BASE) :]
        if path.is_file():
            return 200, {}, path.read_bytes()
        return 404, {}, b"not found"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(re.escape(BASE) + ".*"), callback=serve)
        yield mock


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher(FetchSettings(retries=0))


@pytest.fixture
def verify(signer: ArchiveSigner) -> VerifyRelease:
    return gpgv_verifier([signer.keyring])


def stand_in(workdir: Path, package: str, version: str, *, path: str | None = None, **kwargs: object) -> Path:
    """A small real .deb (dpkg-deb) holding the package's loader path with recognisable bytes."""
    content = f"{package} {version}\n".encode()
    kwargs.setdefault("arch", "all" if package in ("pxelinux", "syslinux-common") else "amd64")
    return build_deb(workdir, package, version, {path or AMD64_PATHS[package]: content}, **kwargs)  # type: ignore[arg-type]


def publish_amd64(tree: PackageArchiveTree, workdir: Path, suite: str = "noble", **versions: str) -> None:
    """All four amd64 packages in `suite` (version 1.0 unless given, keyed by package with _ for -)."""
    for package in AMD64_PATHS:
        tree.add(suite, stand_in(workdir, package, versions.get(package.replace("-", "_"), "1.0")))
    tree.publish(suite)


def resolve(
    fetcher: Fetcher, verify: VerifyRelease, pockets: tuple[str, ...] = ("",), arch: str = "amd64"
) -> list[DebMember]:
    return resolve_loaders(fetcher.get_bytes, verify, suites(DISTS, "noble", pockets), arch)


def by_name(loaders: list[DebMember]) -> dict[str, DebMember]:
    return {loader.name: loader for loader in loaders}


# Choosing the version -----------------------------------------------------------------------


@pytest.mark.usefixtures("http")
def test_the_newest_version_of_each_package_across_the_pockets_is_chosen(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path, "noble", shim_signed="1.57+15.7-0ubuntu1", grub_efi_amd64_signed="1.187.6")
    tree.add("noble-updates", stand_in(tmp_path, "shim-signed", "1.59+15.8-0ubuntu2"))
    tree.publish("noble-updates")
    # Older than -updates' shim ("~" sorts first), newer than the release's grub.
    tree.add("noble-security", stand_in(tmp_path, "shim-signed", "1.59~15.8"))
    tree.add("noble-security", stand_in(tmp_path, "grub-efi-amd64-signed", "1.187.6+2.06-2ubuntu14.4"))
    tree.publish("noble-security")

    loaders = by_name(resolve(fetcher, verify, pockets=("", "-updates", "-security")))

    # Ubuntu's MokManager and fallback are in shim-signed itself (no shim-helpers package): optional members.
    assert sorted(loaders) == ["bootx64.efi", "fbx64.efi", "grubx64.efi", "ldlinux.c32", "mmx64.efi", "pxelinux.0"]
    assert loaders["mmx64.efi"].deb == loaders["bootx64.efi"].deb and loaders["mmx64.efi"].optional
    shim, grub = loaders["bootx64.efi"].deb, loaders["grubx64.efi"].deb
    assert (shim.version, shim.suite) == ("1.59+15.8-0ubuntu2", "noble-updates")
    assert (grub.version, grub.suite) == ("1.187.6+2.06-2ubuntu14.4", "noble-security")
    assert loaders["pxelinux.0"].deb.suite == "noble"
    assert shim.url == BASE + "pool/main/s/shim-signed/shim-signed_1.59+15.8-0ubuntu2_amd64.deb"
    assert shim.sha256 == hashlib.sha256((tree.root / shim.url[len(BASE) :]).read_bytes()).hexdigest()
    assert loaders["bootx64.efi"].members == (SHIM_LATEST, SHIM)


HELPERS = "shim-helpers-amd64-signed"


def shim_build(tmp_path: Path, package: str, version: str, shim: str) -> Path:
    """A stand-in of Debian's shim-signed or shim-helpers-amd64-signed, built from shim `shim`."""
    files = {"shim-signed": {SHIM: b"shim"}, HELPERS: {"usr/lib/shim/mmx64.efi.signed": b"mm"}}[package]
    return build_deb(tmp_path, package, version, files, arch="amd64", fields={"Built-Using": f"shim (= {shim})"})


@pytest.mark.usefixtures("http")
def test_debians_mokmanager_comes_from_the_helpers_built_from_the_chosen_shims_source_not_the_newest(
    tmp_path, tree, fetcher, verify
):
    publish_amd64(tree, tmp_path, "noble")
    tree.add("noble", shim_build(tmp_path, HELPERS, "1+16.1+2~deb12u1", "16.1-2~deb12u1"))
    tree.publish("noble")
    # A partly synced mirror: the helpers of the next shim arrived, that shim did not.
    tree.add("noble-updates", shim_build(tmp_path, "shim-signed", "1.51+16.1-2~deb12u1", "16.1-2~deb12u1"))
    tree.add("noble-updates", shim_build(tmp_path, HELPERS, "1+16.2+1~deb12u1", "16.2-1~deb12u1"))
    tree.publish("noble-updates")

    loaders = by_name(resolve(fetcher, verify, pockets=("", "-updates")))

    assert loaders["mmx64.efi"].deb.package == HELPERS
    assert loaders["mmx64.efi"].deb.version == "1+16.1+2~deb12u1"
    assert loaders["mmx64.efi"].deb.built_from("shim") == loaders["bootx64.efi"].deb.built_from("shim")


@pytest.mark.usefixtures("http")
def test_without_helpers_of_the_shims_build_mokmanager_is_looked_for_in_shim_signed_itself(
    tmp_path, tree, fetcher, verify
):
    publish_amd64(tree, tmp_path, "noble")
    tree.add("noble-updates", shim_build(tmp_path, "shim-signed", "1.51+16.1-2~deb12u1", "16.1-2~deb12u1"))
    tree.add("noble-updates", shim_build(tmp_path, HELPERS, "1+16.2+1~deb12u1", "16.2-1~deb12u1"))
    tree.publish("noble-updates")

    loaders = by_name(resolve(fetcher, verify, pockets=("", "-updates")))

    assert loaders["mmx64.efi"].deb.package == "shim-signed" and loaders["mmx64.efi"].optional


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("9.9", "1:0.1"),  # an epoch outranks everything after it
        ("1.51~1+deb12u1", "1.51"),  # "~" sorts before the end of the string
        ("2.06-13+deb12u2", "2.06-13+deb12u10"),  # digits compare as numbers
        ("1.0", "1.0a"),
        ("1.0-1", "1.0-1ubuntu0.1"),
    ],
)
def test_versions_compare_the_way_dpkg_compares_them(older, newer):
    def deb(version: str, suite: str) -> DebPackage:
        return DebPackage("shim-signed", version, suite, f"{BASE}{suite}.deb", version.encode().hex()[:8], 1)

    for order in ([deb(older, "a"), deb(newer, "b")], [deb(newer, "b"), deb(older, "a")]):
        assert newest(order, "shim-signed", "here").version == newer
    compared = subprocess.run(["dpkg", "--compare-versions", older, "lt", newer], check=False)
    assert compared.returncode == 0, "the expectation itself must agree with dpkg"


def test_one_version_listed_with_two_different_hashes_is_refused():
    debs = [
        DebPackage("shim-signed", "1.0", "noble-updates", BASE + "a.deb", "a" * 64, 1),
        DebPackage("shim-signed", "1.0", "noble-security", BASE + "b.deb", "b" * 64, 1),
    ]
    with pytest.raises(PackageError, match=r"shim-signed 1\.0 is listed twice with different SHA-256"):
        newest(debs, "shim-signed", "here")


@pytest.mark.usefixtures("http")
def test_a_package_no_pocket_lists_is_an_error_naming_the_indexes(tmp_path, tree, fetcher, verify):
    tree.add("noble", stand_in(tmp_path, "pxelinux", "1.0"))
    tree.publish("noble")
    with pytest.raises(PackageError, match=r"package (syslinux-common|shim-signed|grub-efi-amd64-signed) is not"):
        resolve(fetcher, verify)


@pytest.mark.usefixtures("http")
def test_arm64_gets_the_arm64_shim_and_grub_and_no_amd64_package(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path, "noble")
    shim = "usr/lib/shim/shimaa64.efi.signed.latest"
    tree.add("noble", stand_in(tmp_path, "shim-signed", "1.0", path=shim, arch="arm64"))
    grub = "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed"
    tree.add("noble", stand_in(tmp_path, "grub-efi-arm64-signed", "1.0", path=grub, arch="arm64"))
    tree.publish("noble")
    loaders = by_name(resolve(fetcher, verify, arch="arm64"))
    assert sorted(loaders) == ["bootaa64.efi", "fbaa64.efi", "grubaa64.efi", "mmaa64.efi"]
    assert loaders["bootaa64.efi"].deb.url.endswith("_arm64.deb")
    with pytest.raises(PackageError, match="no pre-boot loaders are known for riscv64"):
        resolve(fetcher, verify, arch="riscv64")


# The signed index chain ---------------------------------------------------------------------


@pytest.mark.usefixtures("http")
def test_packages_xz_that_does_not_match_the_signed_inrelease_is_refused(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path)
    index = tree.dists / "noble/main/binary-amd64/Packages.xz"
    index.write_bytes(lzma.compress(lzma.decompress(index.read_bytes()).replace(b"1.0", b"9.9")))
    with pytest.raises(SignatureError, match=r"dists/noble/main/binary-amd64/Packages\.xz: does not match the signed"):
        resolve(fetcher, verify)


@pytest.mark.usefixtures("http")
def test_packages_gz_is_read_when_the_inrelease_lists_no_xz(tmp_path, tree, fetcher, verify):
    for package in AMD64_PATHS:
        tree.add("noble", stand_in(tmp_path, package, "1.0"))
    tree.publish("noble", indexes=("Packages.gz",))
    assert len([loader for loader in resolve(fetcher, verify) if not loader.optional]) == 4


@pytest.mark.usefixtures("http")
def test_an_inrelease_that_lists_no_packages_index_for_the_arch_is_refused(tmp_path, tree, fetcher, verify):
    for package in AMD64_PATHS:
        tree.add("noble", stand_in(tmp_path, package, "1.0"))
    tree.publish("noble", archs=("i386",))
    with pytest.raises(PackageError, match=r"noble/InRelease lists no main/binary-amd64/"):
        resolve(fetcher, verify)


def _unsigned(top: Path) -> None:
    (top / "InRelease").write_bytes((top / "Release").read_bytes())


def _altered_after_signing(top: Path) -> None:
    signed = (top / "InRelease").read_bytes()
    (top / "InRelease").write_bytes(signed.replace(b"Origin: pxeimport tests", b"Origin: someone else"))


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_unsigned, r"noble/InRelease: not a clearsigned file"),
        (_altered_after_signing, r"noble/InRelease: BAD signature"),
    ],
)
@pytest.mark.usefixtures("http")
def test_an_unsigned_or_altered_inrelease_is_refused(tmp_path, tree, fetcher, verify, spoil, reason):
    publish_amd64(tree, tmp_path)
    spoil(tree.dists / "noble")
    with pytest.raises(SignatureError, match=reason):
        resolve(fetcher, verify)


@pytest.mark.usefixtures("http")
def test_an_inrelease_signed_by_a_key_not_in_the_keyring_is_refused(tmp_path, tree, fetcher, verify):
    stranger = ArchiveSigner(tmp_path / "stranger")
    try:
        tree.signer = stranger
        publish_amd64(tree, tmp_path)
    finally:
        stranger.close()
    with pytest.raises(SignatureError, match="signed by a key that is not in the keyring"):
        resolve(fetcher, verify)


@pytest.mark.usefixtures("http")
def test_another_suites_signed_inrelease_served_in_a_pockets_place_is_refused(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path)
    (tree.dists / "noble-security").mkdir()
    (tree.dists / "noble-security/InRelease").write_bytes((tree.dists / "noble/InRelease").read_bytes())
    with pytest.raises(PackageError, match=r"noble-security/InRelease: signed for suite noble, not noble-security"):
        resolve(fetcher, verify, pockets=("", "-security"))


@pytest.mark.usefixtures("http")
def test_a_missing_pocket_is_an_error_naming_its_inrelease(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path)
    with pytest.raises(NotFound, match=r"dists/noble-updates/InRelease"):
        resolve(fetcher, verify, pockets=("", "-updates"))


@pytest.mark.usefixtures("http")
def test_a_filename_that_climbs_out_of_the_archive_is_refused(tmp_path, tree, fetcher, verify):
    for package in AMD64_PATHS:
        filename = "pool/../../../etc/evil.deb" if package == "pxelinux" else None
        tree.add("noble", stand_in(tmp_path, package, "1.0"), filename=filename)
    tree.publish("noble")
    with pytest.raises(PackageError, match=r"pxelinux has an unsafe Filename 'pool/\.\./\.\./\.\./etc/evil\.deb'"):
        resolve(fetcher, verify)


def test_an_archive_url_that_is_not_a_dists_url_is_refused():
    with pytest.raises(PackageError, match="must end with dists/"):
        suites(BASE, "noble")
    assert [s.name for s in suites(DISTS.rstrip("/"), "bookworm", DEBIAN_POCKETS)] == ["bookworm", "bookworm-updates"]
    with pytest.raises(InvalidName, match=r"invalid suite name '\.\./noble'"):
        Suite(DISTS, "../noble")


# The .deb and the file inside it ------------------------------------------------------------


@pytest.mark.usefixtures("http")
def test_the_loaders_are_extracted_with_their_sizes_and_hashes(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    extracted = fetch_loaders(fetcher.download, resolve(fetcher, verify), tmp_path, out)
    # The stand-in shim-signed holds no MokManager or fallback: optional, so the set goes without them.
    assert sorted(extracted) == ["bootx64.efi", "grubx64.efi", "ldlinux.c32", "pxelinux.0"]
    for name, loader in by_name(resolve(fetcher, verify)).items():
        if loader.optional:
            continue
        content = f"{loader.deb.package} 1.0\n".encode()
        assert (out / name).read_bytes() == content
        assert (extracted[name].size, extracted[name].sha256) == (len(content), hashlib.sha256(content).hexdigest())
        assert (out / name).stat().st_mode & 0o777 == 0o644


@pytest.mark.usefixtures("http")
def test_a_tampered_deb_is_refused_by_the_fetcher_and_by_the_module_itself(tmp_path, tree, fetcher, verify):
    publish_amd64(tree, tmp_path)
    loaders = resolve(fetcher, verify)
    shim = by_name(loaders)["bootx64.efi"].deb
    (tree.root / shim.url[len(BASE) :]).write_bytes(stand_in(tmp_path / "x", "shim-signed", "6.6").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FetchError, match=r"shim-signed_1\.0_amd64\.deb"):
        fetch_loaders(fetcher.download, loaders, tmp_path, out)

    (tmp_path / "y").mkdir()

    def unchecked(url: str, dest: Path, sha256: str) -> None:
        dest.write_bytes(fetcher.get_bytes(url))

    with pytest.raises(PackageError, match=rf"{re.escape(shim.url)}: \d+ bytes, SHA-256 [0-9a-f]{{64}}; its Packages"):
        fetch_loaders(unchecked, loaders, tmp_path / "y", out)
    assert list(out.iterdir()) == [], "nothing is extracted unless every .deb matches its index"


@pytest.mark.usefixtures("http")
def test_a_loader_that_fails_to_extract_leaves_the_destination_as_it_was(tmp_path, tree, fetcher, verify):
    for package in AMD64_PATHS:
        path = "usr/share/doc/shim-signed/README" if package == "shim-signed" else None
        tree.add("noble", stand_in(tmp_path, package, "1.0", path=path))
    tree.publish("noble")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackageError, match=r"shim-signed_1\.0_amd64\.deb holds none of"):
        fetch_loaders(fetcher.download, resolve(fetcher, verify), tmp_path, out)
    assert list(out.iterdir()) == []


def test_a_deb_lacking_the_member_is_refused(tmp_path):
    deb = build_deb(tmp_path, "shim-signed", "1.0", {"usr/share/doc/shim-signed/README": b"no shim here\n"})
    with pytest.raises(DebError, match=rf"http://x/s\.deb holds none of {SHIM_LATEST}, {SHIM}$"):
        extract_member(deb, (SHIM_LATEST, SHIM), tmp_path / "bootx64.efi", label="http://x/s.deb")
    assert not (tmp_path / "bootx64.efi").exists()


def test_a_member_that_is_a_symlink_is_refused(tmp_path):
    require_tool("dpkg-deb")
    files = {"usr/lib/shim/shimx64.efi": b"shim\n", SHIM: Symlink("shimx64.efi")}
    deb = build_deb(tmp_path, "shim-signed", "1.0", files)  # type: ignore[arg-type]
    with pytest.raises(DebError, match=r"shimx64\.efi\.signed is not a regular file"):
        extract_member(deb, (SHIM,), tmp_path / "bootx64.efi")
    assert not (tmp_path / "bootx64.efi").exists()


def test_a_deb_with_a_member_that_climbs_out_is_refused_whole(tmp_path):
    require_tool("dpkg-deb")
    require_tool("ar")
    deb = build_deb(tmp_path, "shim-signed", "1.0", {SHIM: b"shim\n"})
    hostile = with_hostile_data(deb, {"./../../etc/cron.d/evil": b"* * * * * root sh\n"}, tmp_path)
    assert extract_member(deb, (SHIM,), tmp_path / "fine.efi")[1].size == 5, "the untouched .deb extracts"
    with pytest.raises(DebError, match=r"member '\./\.\./\.\./etc/cron\.d/evil' climbs out with '\.\.'"):
        extract_member(hostile, (SHIM,), tmp_path / "bootx64.efi")
    assert not (tmp_path / "bootx64.efi").exists()


def test_a_file_that_is_not_a_deb_is_refused(tmp_path):
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"<html>captive portal</html>")
    with pytest.raises(DebError, match=r"junk\.deb: not a readable \.deb"):
        extract_member(junk, (SHIM,), tmp_path / "bootx64.efi")


@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip"])
def test_ubuntus_latest_shim_is_preferred_whatever_the_deb_compression(tmp_path, compression):
    require_tool("dpkg-deb")
    if compression == "zstd":
        require_tool("unzstd")
    files = {SHIM: b"previous\n", SHIM_LATEST: b"latest\n"}
    deb = build_deb(tmp_path, "shim-signed", "1.0", files, compression=compression)
    member, extracted = extract_member(deb, (SHIM_LATEST, SHIM), tmp_path / "bootx64.efi")
    assert member == SHIM_LATEST
    assert (tmp_path / "bootx64.efi").read_bytes() == b"latest\n"
    assert extracted.sha256 == hashlib.sha256(b"latest\n").hexdigest()


# End to end: Debian's real packages over a real loopback HTTP server -------------------------


@pytest.fixture(scope="module")
def real_debs() -> dict[str, Path]:
    require_tool("apt-get")
    require_tool("dpkg-deb")
    try:
        return cached_debs([*AMD64_PATHS, HELPERS])
    except demo.DemoError as exc:
        skip_or_fail(f"Debian's loader packages could not be downloaded: {exc}")


@pytest.mark.slow
def test_all_amd64_loaders_resolve_and_extract_from_debians_real_packages(tmp_path, signer, real_debs):
    tree = PackageArchiveTree(tmp_path / "archive", signer=signer)
    for deb in real_debs.values():
        tree.add("bookworm", deb)
    tree.publish("bookworm")
    # A newer shim in -updates: Debian's own .deb, repacked by dpkg-deb with a higher version.
    newer = with_version(real_debs["shim-signed"], "1.99+pxeimport1", tmp_path)
    tree.add("bookworm-updates", newer)
    tree.publish("bookworm-updates")
    fetcher = Fetcher(FetchSettings(retries=0))
    out = tmp_path / "out"
    out.mkdir()

    with ArchiveServer(tree.root) as server:
        pockets = suites(server.url + "dists/", "bookworm", DEBIAN_POCKETS)
        loaders = resolve_loaders(fetcher.get_bytes, gpgv_verifier([signer.keyring]), pockets, "amd64")
        extracted = fetch_loaders(fetcher.download, loaders, tmp_path, out)
        served = [r.path for r in server.requests]

    assert by_name(loaders)["bootx64.efi"].deb.version == "1.99+pxeimport1"
    assert by_name(loaders)["bootx64.efi"].deb.suite == "bookworm-updates"
    # MokManager and the fallback from shim-helpers-amd64-signed, built from the same shim as shim-signed.
    assert sorted(extracted) == sorted({f.name for f in LOADER_FILES["amd64"]})
    assert by_name(loaders)["mmx64.efi"].deb.package == HELPERS
    # Each .deb once; the release pocket's shim never.
    assert sorted(p for p in served if p.endswith(".deb")) == sorted(
        {"/" + loader.deb.url.split("/", 3)[3] for loader in loaders}
    )
    assert not any(p.endswith(f"shim-signed_{_version(real_debs['shim-signed'])}_amd64.deb") for p in served)
    # Byte for byte what dpkg-deb itself unpacks from the same .debs.
    for loader in loaders:
        unpacked = tmp_path / "dpkg" / loader.name
        unpacked.mkdir(parents=True)
        source = newer if loader.deb.package == "shim-signed" else real_debs[loader.deb.package]
        subprocess.run(["dpkg-deb", "-x", str(source), str(unpacked)], check=True)
        expected = next(unpacked / m for m in loader.members if (unpacked / m).is_file())
        assert (out / loader.name).read_bytes() == expected.read_bytes()
        assert extracted[loader.name].sha256 == hashlib.sha256(expected.read_bytes()).hexdigest()
    assert (out / "pxelinux.0").stat().st_size > 10_000


def _version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True).stdout.strip()
