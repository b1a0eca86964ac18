"""The soak's world: a signed debian-installer archive on loopback that changes, the saved selection an operator
edits in the admin (as database rows), and the TFTP root the nightly import keeps.

Release names are made up (none close to a name distro-info knows, so none is taken for a typo); the first
is the loaders' release and is never withdrawn or unselected, as an operator keeps the release their nodes
boot by default.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.models import BootSource, ImportRun, ItemState, SelectedArch, SelectedRelease
from pxeimport.tftproot import TftpRoot
from tools.archive import ArchiveTree, netboot_files
from tools.database import database_url
from tools.faultserver import FaultServer
from tools.signing import ArchiveSigner

PROJECT = Path(__file__).resolve().parents[2]
# The archive's first day: ten years back, so no night's Release is dated ahead of the real clock (an import
# refuses a Release from the future) however many nights run, up to ten years of them.
EPOCH = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3650)
RELEASES = ("orchid", "quartz", "saffron", "tundra", "walnut", "yarrow")
ARCHES = ("amd64", "i386")
SOURCE = "soak"
# The second source that claims a release beside SOURCE (sources feed by name: SOURCE comes first).
EXTRA = "soak-extra"
# A mirror that refuses every connection (the discard port: nothing listens there).
DEAD_MIRROR = "http://127.0.0.1:9/dists/"
# The "exit code" of an import that raised something other than CommandError.
CRASHED = -1


@dataclass
class RunOutcome:
    code: int
    output: str


@dataclass
class World:
    work: Path
    signer: ArchiveSigner
    archive: ArchiveTree
    server: FaultServer
    root: TftpRoot
    # (arch, release) -> (kernel tag, loader tag) of what upstream publishes now.
    published: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    tags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    typos: list[str] = field(default_factory=list)
    # Releases the last nightly import named as not offered: the operator unselects them the next night.
    to_fix: list[str] = field(default_factory=list)
    # Per release, each signed Release the mirror has published (InRelease, Release, Release.gpg bytes).
    signed: dict[str, list[tuple[bytes, bytes, bytes]]] = field(default_factory=dict)
    # The archive's clock: each night's Release is dated a day after the last.
    day: int = 0
    # With racks, the import runs as cron runs it on a region (manage.py in this environment, which publishes
    # the signed index and wakes the racks); without, in this process.
    region_env: dict[str, str] | None = None
    # A second mirror of the same archive (another URL): the operator may point the source at either.
    other: FaultServer | None = None
    # The source's URL before the operator pointed it at a dead mirror tonight (put back the next night).
    dead_mirror_of: str = ""
    # The release a second enabled source claims tonight beside the soak's source (removed the next night).
    claimed_twice: str = ""
    # The TFTP root's own small filesystem (a tmpfs, when this process may mount one): a night can fill it.
    disk: Path | None = None

    @property
    def offered(self) -> set[tuple[str, str]]:
        return set(self.published)

    def publish(self, arch: str, release: str, *, kernel: bool = True, loader: bool = False) -> None:
        """A new dated netboot dir of (arch, release): new kernel and initrd, new loaders, or both."""
        old_kernel, old_loader = self.published.get((arch, release), ("", ""))
        tag = f"{release}-{arch}-{next(self.tags)}"
        kernel_tag = tag if kernel or not old_kernel else old_kernel
        loader_tag = tag if loader or not old_loader else old_loader
        uefi = arch == "amd64"
        files = netboot_files(loader_tag, uefi=uefi)
        files |= {n: netboot_files(kernel_tag)[n] for n in ("linux", "initrd.gz")}
        self.archive.publish(release, arch, files)
        self.published[(arch, release)] = (kernel_tag, loader_tag)
        self._keep_signed(release)

    def next_day(self) -> None:
        self.day += 1
        self.archive.date = EPOCH + timedelta(days=self.day)

    def _keep_signed(self, release: str) -> None:
        top = self.archive.root / "dists" / release
        names = ("InRelease", "Release", "Release.gpg")
        self.signed.setdefault(release, []).append(tuple((top / n).read_bytes() for n in names))  # type: ignore[arg-type]

    def replay(self, release: str) -> None:
        """The mirror serves the release's previous signed Release again (a stale mirror, or an attacker)."""
        top = self.archive.root / "dists" / release
        for name, data in zip(("InRelease", "Release", "Release.gpg"), self.signed[release][-2], strict=True):
            (top / name).write_bytes(data)

    def unreplay(self, release: str) -> None:
        """The mirror is current again: its newest Release back."""
        top = self.archive.root / "dists" / release
        for name, data in zip(("InRelease", "Release", "Release.gpg"), self.signed[release][-1], strict=True):
            (top / name).write_bytes(data)

    def kill_mid_run(self, after: float) -> bool:
        """Start the nightly command as cron would (its own process), SIGKILL it `after` seconds after it
        began; whether it was still running then."""
        env = self.region_env or self._env()
        command = [sys.executable, "-m", "tools.kill_trials", "--child", "--tftproot", str(self.root.path), "-v0"]
        child = subprocess.Popen(
            command, cwd=PROJECT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            child.kill()
            raise RuntimeError(f"the import process did not start: {child.communicate()[1][-500:]}")
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(after)
        running = child.poll() is None
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        return running

    def fill_disk(self) -> int:
        """Fill the TFTP root's filesystem to its last byte (another program's file, as a full /srv is met);
        how many bytes the filler took."""
        assert self.disk is not None
        written, chunk = 0, b"\0" * (1 << 20)
        with open(self.disk / "filler", "wb", buffering=0) as filler:
            for size in (1 << 20, 4096, 1):
                try:
                    while True:
                        written += filler.write(chunk[:size])
                except OSError:  # ENOSPC: on to smaller writes, down to the last byte
                    continue
        return written

    def free_disk(self) -> None:
        if self.disk is not None:
            (self.disk / "filler").unlink(missing_ok=True)

    def upstream_sha256(self) -> dict[tuple[str, str], dict[str, str]]:
        """(arch, release) -> {name: SHA-256} of the kernel and initrd upstream publishes now."""
        return {
            pair: {n: hashlib.sha256(netboot_files(kernel)[n]).hexdigest() for n in ("linux", "initrd.gz")}
            for pair, (kernel, _) in self.published.items()
        }

    def withdraw(self, arch: str, release: str) -> None:
        """Upstream drops `arch` from `release`: its installer dir goes, the Release lists the other arches.
        The last arch of a release goes with the whole release (dists/<release>/ gone, as an archived
        release leaves a mirror): a signed Release listing no installer at all is not a state mirrors show."""
        del self.published[(arch, release)]
        if any(r == release for _, r in self.published):
            self.archive.remove(release, arch)
            self.archive.sign_release(release)
            self._keep_signed(release)
        else:
            shutil.rmtree(self.archive.root / "dists" / release)
            self.signed.pop(release, None)

    # The saved selection, as the admin saves it ---------------------------------------------------

    @property
    def source(self) -> BootSource:
        return BootSource.objects.get(name=SOURCE)

    def selected(self) -> dict[tuple[str, str], str]:
        """(arch, release) -> the kernel options its entries must carry (the source's, then the release's)."""
        source = self.source
        return {
            (arch.name, release.name): " ".join(filter(None, [source.kernel_opts, release.kernel_opts]))
            for arch in source.arches.all()
            for release in source.releases.all()
        }

    def selected_releases(self) -> list[str]:
        return sorted(r.name for r in self.source.releases.all())

    def selected_arches(self) -> list[str]:
        return sorted(a.name for a in self.source.arches.all())

    def mirrors(self) -> list[str]:
        return [server.url + "dists/" for server in (self.server, self.other) if server is not None]

    def point_at(self, url: str) -> None:
        BootSource.objects.filter(name=SOURCE).update(url=url)

    def claim_twice(self, release: str) -> None:
        """A second enabled source, on the other mirror, selects amd64/`release` too (rows written directly, as a
        bulk "enable" in the admin leaves them: the source form would refuse the clash)."""
        mine = self.source
        extra = BootSource.objects.create(
            name=EXTRA, url=self.mirrors()[-1], layout=mine.layout, distribution=mine.distribution,
            keyring=mine.keyring, current_release=mine.current_release, installer_dir=mine.installer_dir,
            feeds_loaders=False,
        )  # fmt: skip
        SelectedArch.objects.create(source=extra, name="amd64")
        SelectedRelease.objects.create(source=extra, name=release)
        self.claimed_twice = release

    def fix_overnight(self) -> None:
        """What the operator fixes after reading last night's output: the dead mirror, the second source."""
        if self.dead_mirror_of:
            self.point_at(self.dead_mirror_of)
            self.dead_mirror_of = ""
        if self.claimed_twice:
            BootSource.objects.filter(name=EXTRA).delete()
            self.claimed_twice = ""

    def select(self, *, release: str = "", arch: str = "", add: bool = True) -> None:
        model, name = (SelectedRelease, release) if release else (SelectedArch, arch)
        if add:
            model.objects.get_or_create(source=self.source, name=name)
        else:
            model.objects.filter(source=self.source, name=name).delete()

    def claimed(self) -> dict[tuple[str, str], str]:
        """What the status page's rows claim is live, per (arch, release) of installer items."""
        rows = ItemState.objects.filter(kind="install").exclude(live_version="")
        return {(r.arch, r.release): r.live_version for r in rows}

    # Runs ----------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "settings"}
        env |= {"PXEIMPORT_GRACE_SECONDS": "0", "PXEIMPORT_HTTP_RETRIES": "0", "PXEIMPORT_HTTP_BACKOFF": "0"}
        env.setdefault("SECRET_KEY", "soak-only")
        return env

    def run(self, *args: str) -> RunOutcome:
        if self.region_env is not None:
            command = [sys.executable, "manage.py", "import_pxe_files", "--tftproot", str(self.root.path), *args]
            env = self.region_env
            done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
            crashed = "Traceback (most recent call last)" in done.stderr
            return RunOutcome(CRASHED if crashed else done.returncode, done.stdout + done.stderr)
        out, err = StringIO(), StringIO()
        try:
            call_command("import_pxe_files", "--tftproot", str(self.root.path), *args, stdout=out, stderr=err)
            code = 0
        except CommandError as exc:
            err.write(f"{exc}\n")
            code = exc.returncode
        except Exception:  # a crash is what the soak is for: said with its traceback, never an exit code
            err.write(traceback.format_exc())
            code = CRASHED
        return RunOutcome(code, out.getvalue() + err.getvalue())

    def last_run_id(self) -> int:
        return ImportRun.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def changes_since(self, run_id: int) -> list[str]:
        return list(ImportRun.objects.filter(id__gt=run_id).values_list("changes", flat=True))


def make_world(work: Path) -> World:
    """The first night's world: three releases upstream for both arches, two selected for amd64."""
    signer = ArchiveSigner(work / "gnupg")
    archive = ArchiveTree(work / "archive", installer_dir="debian-installer", signer=signer)
    server = FaultServer(archive.root, ranges=True).start()
    disk = _small_disk(work / "disk")
    world = World(work, signer, archive, server, TftpRoot((disk or work) / "tftpboot"), disk=disk)
    world.other = FaultServer(archive.root, ranges=True).start()
    world.next_day()
    for release in RELEASES[:3]:
        for arch in ARCHES:
            world.publish(arch, release, loader=True)
    BootSource.objects.update(enabled=False)
    source = BootSource.objects.create(
        name=SOURCE, url=server.url + "dists/", layout="debian-installer", distribution="other",
        keyring=str(signer.keyring), current_release=RELEASES[0], installer_dir="debian-installer",
    )  # fmt: skip
    SelectedArch.objects.create(source=source, name="amd64")
    for release in RELEASES[:2]:
        SelectedRelease.objects.create(source=source, name=release)
    return world


def _small_disk(where: Path) -> Path | None:
    """A 64 MiB tmpfs mounted at `where` for the TFTP root, or None when this process may not mount one (not
    root): then no night fills the disk, and the report says so."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return None
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)], capture_output=True)
    return where if done.returncode == 0 else None


def close(world: World) -> None:
    for server in (world.server, world.other):
        with contextlib.suppress(Exception):
            if server is not None:
                server.close()
    world.signer.close()
    if world.disk is not None:
        subprocess.run(["umount", "--lazy", str(world.disk)], capture_output=True)
