"""`make demo`: import Debian 12's real netboot files from a loopback archive into a TFTP root, twice."""

from __future__ import annotations

import argparse
import filecmp
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.archive import ArchiveTree
from tools.httpserver import ArchiveServer, Request
from tools.signing import ArchiveSigner

PROJECT = Path(__file__).resolve().parent.parent
VAR = PROJECT / "var"
DEB_CACHE = VAR / "cache" / "debs"
NETBOOT_CACHE = VAR / "cache" / "netboot"
ARCHIVE_ROOT = VAR / "demo-archive"
# A throwaway key signs the demo archive, as Debian's key signs the real one.
KEY_HOME = VAR / "demo-gnupg"

ARCHES = ("amd64", "i386")
RELEASE = "bookworm"
INSTALLER_DIR = "debian-installer"
DEB_MARKER = ".extracted-from"
INDEX_NAME = "SHA256SUMS"
# What a no-op run may still read: the signed Release and the installer indexes.
INDEX_FILES = ("/InRelease", "/Release", "/Release.gpg", "/" + INDEX_NAME, "/SHA256SUMS.gpg")
# What the importer should serve at each stable path under maas/<arch>/base/, and where the
# same file sits in the package's netboot directory.
STABLE_PATHS = {
    "pxelinux.0": "pxelinux.0",
    "ldlinux.c32": "boot-screens/ldlinux.c32",
    f"{RELEASE}/install/linux": "linux",
    f"{RELEASE}/install/initrd.gz": "initrd.gz",
}


class DemoError(Exception):
    """A step of the demo failed; the message says which and what to do."""


@dataclass(frozen=True)
class ImportRun:
    returncode: int
    output: str
    seconds: float
    requests: list[Request]


def package_name(arch: str) -> str:
    return f"debian-installer-12-netboot-{arch}"


def netboot_subdir(arch: str) -> str:
    """The netboot directory inside the extracted package."""
    return f"usr/lib/debian-installer/images/12/{arch}/text/{INSTALLER_DIR}/{arch}"


def shown(path: Path) -> str:
    """`path` relative to the project when it is inside it, for shorter lines."""
    return str(path.relative_to(PROJECT)) if path.is_relative_to(PROJECT) else str(path)


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# Step 1: the real netboot files from Debian's packages ---------------------------------------


def run_checked(command: Sequence[str], *, cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    """Run `command` quietly; DemoError with its output's tail when it fails or is missing."""
    try:
        return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise DemoError(f"{what}: {command[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or exc.stdout or "").strip().splitlines()[-5:])
        raise DemoError(f"{what}: `{shlex.join(command)}` exited {exc.returncode}\n{tail}") from exc


def cached_deb(arch: str) -> Path | None:
    return cached_deb_named(package_name(arch))


def cached_deb_named(package: str) -> Path | None:
    """The newest cached <package>_*.deb (apt-get download names them so), or None."""
    debs = sorted(DEB_CACHE.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    return debs[-1] if debs else None


def apt_get_download(packages: list[str], directory: Path) -> None:
    """`apt-get download` into `directory`; as root, after one `apt-get update` if the first try fails."""
    command = ["apt-get", "download", *packages]
    try:
        run_checked(command, cwd=directory, what="downloading the netboot packages")
    except DemoError as first:
        if os.geteuid() != 0:
            hint = "If apt's package lists are empty, run `sudo apt-get update` and try again."
            raise DemoError(f"{first}\n{hint}") from first
        print("  apt-get download failed; running apt-get update and trying once more")
        run_checked(["apt-get", "update"], cwd=directory, what="apt-get update")
        run_checked(command, cwd=directory, what="downloading the netboot packages after apt-get update")


def apt_download(packages: list[str]) -> None:
    """Download into a scratch dir, then move the .debs in: no half-downloaded file is ever reused."""
    scratch = DEB_CACHE / ".partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        apt_get_download(packages, scratch)
        for deb in scratch.glob("*.deb"):
            deb.replace(DEB_CACHE / deb.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fetch_debs() -> dict[str, Path]:
    """The package of each arch, from the cache or `apt-get download`."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    missing = [package_name(arch) for arch in ARCHES if cached_deb(arch) is None]
    if missing:
        print(f"  downloading {', '.join(missing)} with apt-get download")
        apt_download(missing)
    debs = {}
    for arch in ARCHES:
        deb = cached_deb(arch)
        if deb is None:
            raise DemoError(f"apt-get download reported success but left no {package_name(arch)}_*.deb")
        debs[arch] = deb
        print(f"  package {arch}: {shown(deb)} ({megabytes(deb.stat().st_size)})")
    return debs


def extract(deb: Path, arch: str) -> Path:
    """`dpkg-deb -x` into var/cache/netboot/<arch>/ unless it already holds this very .deb."""
    target = NETBOOT_CACHE / arch
    marker = target / DEB_MARKER
    if marker.is_file() and marker.read_text().strip() == deb.name:
        return target
    scratch = NETBOOT_CACHE / f".{arch}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    print(f"  extracting {deb.name} into {shown(target)}")
    run_checked(["dpkg-deb", "-x", str(deb), str(scratch)], cwd=PROJECT, what=f"extracting {deb.name}")
    (scratch / DEB_MARKER).write_text(deb.name + "\n")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    return target


def regular_files(directory: Path) -> dict[str, Path]:
    """Every regular file below `directory`, by its slash-separated relative name; symlinks left out."""
    return {
        path.relative_to(directory).as_posix(): path
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def netboot_files(debs: dict[str, Path]) -> dict[str, dict[str, Path]]:
    """Per arch, the files of the package's netboot directory, checked for what the importer needs."""
    files = {}
    for arch, deb in debs.items():
        directory = extract(deb, arch) / netboot_subdir(arch)
        if not directory.is_dir():
            raise DemoError(f"{deb.name} has no {netboot_subdir(arch)}/ (check with `dpkg -c {deb}`)")
        files[arch] = regular_files(directory)
        absent = sorted(set(STABLE_PATHS.values()) - set(files[arch]))
        if absent:
            raise DemoError(f"{deb.name}'s netboot directory lacks {', '.join(absent)}")
    return files


# Step 2: the archive -------------------------------------------------------------------------


def make_signer() -> ArchiveSigner:
    """A fresh throwaway key; its public half is the keyring the import verifies with."""
    shutil.rmtree(KEY_HOME, ignore_errors=True)
    try:
        return ArchiveSigner(KEY_HOME, uid="pxeimport demo archive <demo@test.invalid>")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise DemoError(f"could not make a signing key with gpg ({exc}); apt-get install gnupg") from exc


def build_archive(files: dict[str, dict[str, Path]], signer: ArchiveSigner) -> ArchiveTree:
    """A fresh signed archive in the real debian-installer layout, the package files hard-linked in."""
    shutil.rmtree(ARCHIVE_ROOT, ignore_errors=True)
    tree = ArchiveTree(ARCHIVE_ROOT, installer_dir=INSTALLER_DIR, signer=signer)
    for arch, arch_files in files.items():
        tree.publish(RELEASE, arch, arch_files)
        size = sum(path.stat().st_size for path in arch_files.values())
        where = shown(tree.images_path(RELEASE, arch))
        print(f"  archive {arch}: {len(arch_files)} files, {megabytes(size)}, in {where}")
    return tree


# Step 3: the importer ------------------------------------------------------------------------


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def import_command(archive_url: str, tftproot: Path, keyring: Path) -> list[str]:
    arches = [option for arch in ARCHES for option in ("--arch", arch)]
    return manage(
        "import_pxe_files",
        *("--archive", archive_url, "--tftproot", str(tftproot), "--keyring", str(keyring), *arches),
        *("--release", RELEASE, "--current-release", RELEASE, "-v1"),
    )


def printable(command: list[str]) -> str:
    """The command as an operator would type it in the project directory."""
    python = Path(command[0])
    first = f"./{shown(python)}" if python.is_relative_to(PROJECT) else command[0]
    return shlex.join([first, *command[1:]])


def migrate() -> None:
    print("Migrating the database (manage.py migrate -v0)")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        subprocess.run(manage("migrate", "-v0"), cwd=PROJECT, env=env, check=True)
    except subprocess.CalledProcessError as exc:
        raise DemoError(f"manage.py migrate exited {exc.returncode}; is DATABASE_URL right?") from exc


def run_import(server: ArchiveServer, command: list[str]) -> ImportRun:
    """Run the importer, echoing its lines as they come; what it printed, its status, its requests."""
    server.clear_requests()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    lines = []
    with subprocess.Popen(
        command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"  | {line.rstrip()}")
            lines.append(line)
    return ImportRun(process.returncode, "".join(lines), time.monotonic() - started, server.requests)


def describe_requests(requests: list[Request]) -> str:
    files = [r for r in requests if not r.path.endswith(INDEX_FILES)]
    sent = sum(r.bytes_sent for r in requests)
    indexes = sorted({r.path.rsplit("/", 1)[-1] for r in requests if r.path.endswith(INDEX_FILES)})
    return (
        f"the server answered {len(requests)} request(s): {len(requests) - len(files)} for signed indexes "
        f"({', '.join(indexes) or 'none'}) and {len(files)} for netboot files, {megabytes(sent)} sent"
    )


def report_import(label: str, run: ImportRun) -> None:
    print(f"  {label}: exit {run.returncode} in {run.seconds:.1f} s; {describe_requests(run.requests)}")


def check_noop(run: ImportRun) -> bool:
    """True when the second import installed and downloaded nothing (only the indexes were read)."""
    fetched = [r.path for r in run.requests if not r.path.endswith(INDEX_FILES)]
    noop = (
        run.returncode == 0 and any(line.startswith("0 installed,") for line in run.output.splitlines()) and not fetched
    )
    if noop:
        # Each InRelease is fetched whole; the SHA256SUMS it lists come from the cache by their signed hash.
        print(
            f"  no-op confirmed: 0 installed, and only signed indexes were fetched ({describe_requests(run.requests)})"
        )
    else:
        print(f"  UNEXPECTED: the second import was not a no-op (exit {run.returncode}; fetched {fetched or 'none'})")
    return noop


# The resulting TFTP root ---------------------------------------------------------------------


def show_tree(tftproot: Path, files: dict[str, dict[str, Path]]) -> bool:
    """Print each stable path with its size and target; True when all match the package's files."""
    print(f"TFTP root {shown(tftproot)}:")
    good = True
    for arch in ARCHES:
        base = tftproot / "maas" / arch / "base"
        for stable, source_name in STABLE_PATHS.items():
            path = base / stable
            name = path.relative_to(tftproot).as_posix()
            if not path.is_file():
                print(f"  {name:<45} MISSING")
                good = False
                continue
            same = filecmp.cmp(path, files[arch][source_name], shallow=False)
            good = good and same
            target = os.path.relpath(path.resolve(), base)
            verdict = "same as the package's" if same else "DIFFERS from the package's"
            print(f"  {name:<45} {path.stat().st_size:>11,} bytes -> {target}  ({verdict} {source_name})")
    return good


# Putting it together -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__)
    parser.add_argument(
        "--tftproot",
        type=Path,
        metavar="DIR",
        default=VAR / "tftpboot",
        help="The TFTP root to import into (default: var/tftpboot in the project).",
    )
    parser.add_argument(
        "--keep-serving",
        action="store_true",
        help="After importing, keep the archive served on loopback until Ctrl-C, to try the command by hand.",
    )
    return parser.parse_args(argv)


def prepare(signer: ArchiveSigner) -> dict[str, dict[str, Path]]:
    print(f"Fetching Debian 12's netboot packages (cache: {shown(DEB_CACHE)})")
    files = netboot_files(fetch_debs())
    print(f"Building a {RELEASE} archive for {' and '.join(ARCHES)} in {shown(ARCHIVE_ROOT)}")
    print(f"  signed by a throwaway key {signer.fingerprint}; its keyring: {shown(signer.keyring)}")
    build_archive(files, signer)
    return files


def keep_serving(server: ArchiveServer, command: list[str]) -> None:
    print(f"Serving the archive at {server.url}dists/ until Ctrl-C. Try, from {PROJECT}:")
    print(f"  {printable([*command, '--dry-run'])}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print()


def demo(tftproot: Path, *, serve: bool) -> int:
    signer = make_signer()
    try:
        return _demo(tftproot, signer, serve=serve)
    finally:
        signer.close()


def _demo(tftproot: Path, signer: ArchiveSigner, *, serve: bool) -> int:
    files = prepare(signer)
    migrate()
    with ArchiveServer(ARCHIVE_ROOT) as server:
        command = import_command(f"{server.url}dists/", tftproot, signer.keyring)
        print(f"Serving the archive at {server.url}; importing with:\n  {printable(command)}")
        first = run_import(server, command)
        report_import("first import", first)
        tree_ok = show_tree(tftproot, files)
        print("Importing again, nothing having changed upstream:")
        second = run_import(server, command)
        report_import("second import", second)
        noop = check_noop(second)
        if serve:
            keep_serving(server, command)
    if first.returncode:
        return first.returncode
    return second.returncode or (0 if tree_ok and noop else 1)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return demo(args.tftproot.absolute(), serve=args.keep_serving)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
