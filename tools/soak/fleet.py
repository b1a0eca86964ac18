"""The soak's racks: the soak's server is a region (its nightly import publishes the signed index and wakes
the racks), mirrored by two `rack_worker` processes on RabbitMQ and one brokerless rack that `converge_rack`
brings in line each night as its timer would (tools.racksite runs the processes).

What happens to racks between nights: a rack down for some nights (its worker stopped, or its timer not
firing), then back; a rack's clock three hours off for some nights (its worker under libfaketime). After the
region's import each rack that is up settles (converges, or reports why it could not); the harness then
knows, per rack, the index it last verified and must serve (`verified`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pxeimport.menus import BOOT_OPTIONS_FILE
from pxeimport.models import Rack
from pxeimport.publication import INDEX, LOADER, Publication, read_published
from pxeimport.racks import BEHIND, rack_status
from pxeimport.tftproot import TftpRoot, read_manifest
from tools.database import database_url
from tools.racksite import Site
from tools.soak.invariants import entries
from tools.soak.rackchecks import RackNight, RackView, Served
from tools.soak.world import World

BROKERLESS = "r3"
RACKS = ("r1", "r2", BROKERLESS)
# Debian's libfaketime, wherever its multiarch directory is; "" when not installed.
FAKETIME = next((str(p) for p in sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), "")
# How long a rack may take to take a new index after the region's import (one import of a few small files).
SETTLE_SECONDS = 90.0


def serves(root: TftpRoot) -> Served:
    """What `root` serves, read as tftpd and the menus give it: each release with the files of the version dir its
    entries name and the options they carry (one value when pxelinux's and GRUB's entries agree; when they do
    not, no files and a note saying so, which no index asks for); each arch's loaders with the bytes behind
    their links."""
    served: Served = {}
    for arch in root.arches(retired=False):
        base = root.base_dir(arch)
        found: dict[str, set[tuple[frozenset[tuple[str, str]], str]]] = {}
        for _, kernel, _, opts in entries(root, arch):
            manifest = read_manifest((base / kernel).parent) or {}  # one_version_per_entry checks the initrd's
            # The boot-options file holds the layout's own options, which the index carries as kernel_opts.
            files = frozenset((name, f.sha256) for name, f in manifest.items() if name != BOOT_OPTIONS_FILE)
            options = " ".join(word for word in opts.split() if word != "---")
            found.setdefault(kernel.split("/")[0], set()).add((files, options))
        for release, each in found.items():
            agreed = len(each) == 1
            served[(arch, release)] = next(iter(each)) if agreed else (frozenset(), "pxelinux and GRUB entries differ")
        loaders = root.served_loaders(arch)
        if loaders:
            bytes_of = set()
            for name in loaders:
                target = (base / name).resolve()
                listed = (read_manifest(target.parent) or {}).get(target.name)
                bytes_of.add((name, listed.sha256 if listed else "?"))
            served[(arch, "")] = (frozenset(bytes_of), "")
    return served


def published(index: Publication | None) -> Served:
    """What the region's index asks every rack to serve, in `serves`'s shape."""
    if index is None:
        return {}
    return {
        (i.arch, "" if i.kind == LOADER else i.release): (
            frozenset((f.name, f.sha256) for f in i.files),
            " ".join(i.kernel_opts.split()),
        )
        for i in index.items
    }


@dataclass
class RackState:
    name: str
    root: TftpRoot
    # Down while the night is below this one; its clock off (a FAKETIME offset) while below `clock_until`.
    down_until: int = 0
    clock: str = ""
    clock_until: int = 0
    # What it served the last time it was seen in line with an index (the index it last verified).
    verified: Served = field(default_factory=dict)
    # Why it did not settle tonight ("" when it did): said by the racks_take_the_region_index invariant.
    unsettled: str = ""
    started: bool = False

    def up(self, night: int) -> bool:
        return night >= self.down_until


@dataclass
class Fleet:
    site: Site
    racks: dict[str, RackState]
    index_bytes: bytes = b""

    @property
    def publish_root(self) -> Path:
        return self.site.publish_root

    def index(self) -> Publication | None:
        return read_published(self.publish_root)

    # Between nights ------------------------------------------------------------------------

    def happen(self, kind: str, night: int, pick: float, length: int, ahead: bool) -> str:
        """Make the rack kind `kind` (events.RACK_KINDS) happen to the rack `pick` (0 to 1) chooses, for `length`
        nights (a clock: at most 3), a clock `ahead` or behind; what it did, "" when it could not."""
        if kind == "rack down":
            return self.rack_down(night, pick, length)
        return self.clock_off(night, pick, min(length, 3), ahead)

    def rack_down(self, night: int, pick: float, length: int) -> str:
        up = [r for r in self.racks.values() if r.up(night) and not r.clock]
        if not up:
            return ""
        rack = up[int(pick * len(up))]
        rack.down_until = night + length
        self._stop(rack)
        return f"rack {rack.name} goes down until night {rack.down_until}"

    def no_clock(self) -> str:
        """Why no rack's clock can be set off here ("" when one can)."""
        return "" if FAKETIME else "no libfaketime (Debian's faketime package) on this machine"

    def clock_off(self, night: int, pick: float, length: int, ahead: bool) -> str:
        if not FAKETIME:
            return ""  # the report says why (no_clock)
        choices = [r for r in self.racks.values() if r.name != BROKERLESS and r.up(night) and not r.clock]
        if not choices:
            return ""
        rack = choices[int(pick * len(choices))]
        rack.clock, rack.clock_until = "+3h" if ahead else "-3h", night + length
        self._stop(rack)
        return f"rack {rack.name}'s clock is {rack.clock} off until night {rack.clock_until}"

    def _stop(self, rack: RackState) -> None:
        """Stop its worker, if one runs (not the brokerless rack's; not one that comes back after the import)."""
        if rack.started:
            self.site.stop(f"rack-{rack.name}")
            rack.started = False

    # After the region's import ---------------------------------------------------------------

    def settle(self, night: int, since: float) -> None:
        """Bring up what comes back tonight; let every rack that is up take the region's index (the brokerless
        one by a converge_rack run); note per rack what it now must serve. `since`: the region's clock
        (time.time()) before tonight's first import."""
        index = self.index()
        wanted = published(index)
        data = (self.publish_root / INDEX).read_bytes() if (self.publish_root / INDEX).exists() else b""
        changed, self.index_bytes = data != self.index_bytes, data
        for rack in self.racks.values():
            rack.unsettled = ""
            if rack.clock and night >= rack.clock_until:
                rack.clock = ""
                self._stop(rack)
            if not rack.up(night):
                continue
            if rack.name == BROKERLESS:
                self._converge_brokerless(rack, wanted)
                continue
            restarted, reports_from = not rack.started, since
            if restarted:
                # Its reports count from its start: the process it replaces may have reported tonight's index.
                reports_from = time.time()
                clock = {"LD_PRELOAD": FAKETIME, "FAKETIME": rack.clock} if rack.clock else None
                self.site.start_rack(rack.name, env=clock)
                rack.started = True
            # Also a rack behind the index when it did not change: the import asks such racks again.
            if changed or restarted or serves(rack.root) != wanted:
                self._wait(rack, index, reports_from)
            served = serves(rack.root)
            if served == wanted:
                rack.verified = served
            elif not rack.unsettled and served != rack.verified:
                rack.unsettled = "it serves neither the region's index nor what it served before"

    def _converge_brokerless(self, rack: RackState, wanted: Served) -> None:
        db = self.site.rack_database(rack.name)
        env = self.site.env | {"DATABASE_URL": f"sqlite:///{db}", "CELERY_BROKER_URL": ""}
        args = ["--name", rack.name, "--tftproot", str(rack.root.path), "--region", self.site.region_http.url]
        done = self.site.manage("converge_rack", *args, "--keyring", str(self.site.keyring), env=env, check=False)
        served = serves(rack.root)
        if done.returncode != 0:
            rack.unsettled = f"converge_rack exited {done.returncode}: {done.stderr.strip()[-500:]}"
        elif served == wanted:
            rack.verified = served

    def _wait(self, rack: RackState, index: Publication | None, since: float) -> None:
        """Until the rack serves `index` and the region recorded the finished sync that took it (a report of an
        earlier sync tonight names the index before: a narrowed run by hand publishes one too), or it reported a
        sync that failed (a clock set back refuses an index dated ahead of it); SETTLE_SECONDS at most."""
        wanted = published(index)
        deadline = time.monotonic() + SETTLE_SECONDS
        after, row = datetime.fromtimestamp(since, tz=UTC), None
        while time.monotonic() < deadline:
            row = Rack.objects.filter(name=rack.name).prefetch_related("items").first()
            if row is not None and row.last_sync is not None and row.last_sync > after and row.syncing_since is None:
                if row.last_error:
                    if not rack.clock:
                        rack.unsettled = f"its sync failed with its clock right: {row.last_error}"
                    return
                if serves(rack.root) == wanted and rack_status(row, index).state != BEHIND:
                    return
            time.sleep(0.2)
        rack.unsettled = f"it did not settle within {SETTLE_SECONDS:.0f} s of the region's import"
        if row is not None and serves(rack.root) == wanted:
            shown = rack_status(row, index)
            rack.unsettled += f" (it serves the index; the Racks page says {shown.state}: {shown.detail})"

    def night(self, night: int) -> RackNight:
        """The racks after tonight's settle, with what the region's Racks page says of each (its own code)."""
        index = self.index()
        shown = {rack.name: rack_status(rack, index) for rack in Rack.objects.prefetch_related("items")}
        views = []
        for rack in self.racks.values():
            status = shown.get(rack.name)
            state, detail = (status.state, status.detail) if status else ("", "")
            view = RackView(rack.name, rack.root, rack.up(night), rack.clock, serves(rack.root), rack.verified,
                            rack.unsettled, state, detail, rack.name == BROKERLESS)  # fmt: skip
            views.append(view)
        return RackNight(published(index), views)


def make_fleet(world: World, work: Path, broker: str) -> Fleet:
    """The region's side on the soak's database, its racks started; `world` runs its imports as the region."""
    (work / "site").mkdir()
    site = Site(work / "site", world.server, world.signer.keyring, broker, region_database=database_url())
    (work / "site" / "environment").write_text("")
    quiet = {"PXEIMPORT_ENV_FILE": str(work / "site" / "environment"), "PXEIMPORT_HTTP_BACKOFF": "0"}
    # The racks' and the region's state under the soak's work dir, never the checkout's var/.
    site.env |= quiet | {"SECRET_KEY": "soak-only", "PXEIMPORT_VAR_DIR": str(work / "site" / "var")}
    site.region_env |= quiet | {"SECRET_KEY": "soak-only", "PXEIMPORT_MENU_TIMEOUT": "5"}
    site.region_env["PXEIMPORT_VAR_DIR"] = str(work / "site" / "region-var")
    world.region_env = site.region_env
    racks = {name: RackState(name, TftpRoot(site.rack_root(name))) for name in RACKS}
    site.start_region_worker()
    return Fleet(site, racks)
