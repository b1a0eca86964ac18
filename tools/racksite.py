"""One region and its racks on one machine, as separate processes over real RabbitMQ (tests and bench).

A loopback upstream archive; the region (its own SQLite database, TFTP root, publish root served
on loopback by a logging server, key, `region_worker` with its beat) imports from it with
`import_pxe_files`; each rack is a `rack_worker` process with its own database and TFTP root. The
region's database is read the way the admin does (its rack rows); the HTTP servers' logs give bytes.
Every queue is named as a region names it by default (after its key id, pxeimport.racks.queues): each
site has its own key, so sites never share a queue; `close` deletes them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pxeimport.publication import FILES_DIR, keyring_fingerprint
from tools.faultserver import FaultServer
from tools.httpserver import ArchiveServer

PROJECT = Path(__file__).resolve().parent.parent
SELECTION = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def wait_until(what: str, check: Callable[[], bool], seconds: float = 60, every: float = 0.25) -> None:
    """Poll `check` every `every` seconds; AssertionError naming `what` when it is not true within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"{what}: not within {seconds} s")


def base_env(tmp: Path) -> dict[str, str]:
    """This environment without DEBUG, PXEIMPORT_* or DATABASE_URL; our settings; a database of `tmp`'s own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "PXEIMPORT_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": f"sqlite:///{tmp / 'admin.sqlite3'}", "DJANGO_SETTINGS_MODULE": "settings"}
    return env | {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}  # loopback only


def install_link(tftp_root: Path, release: str, arch: str = "amd64") -> Path:
    return tftp_root / "maas" / arch / "base" / release / "install"


class Site:
    """The processes and directories of one region and its racks, below `tmp`."""

    def __init__(
        self,
        tmp: Path,
        upstream: ArchiveServer | FaultServer,
        upstream_keyring: Path,
        broker: str,
        region_host: str = "127.0.0.1",
        region_database: str = "",
    ) -> None:
        """`region_host`: the address the region's publish root is served on (racks elsewhere reach it there);
        `region_database`: the region's DATABASE_URL, migrated (default: a SQLite file of the site's own)."""
        self.tmp = tmp
        self.upstream = upstream
        self.upstream_keyring = upstream_keyring
        self.publish_root = tmp / "publish"
        self.publish_root.mkdir()
        self.region_http = ArchiveServer(self.publish_root, host=region_host).start()
        self.region_db = tmp / "region.sqlite3"
        self.env = base_env(tmp) | {
            "CELERY_BROKER_URL": broker,
            "PXEIMPORT_GRACE_SECONDS": "0",
            "PXEIMPORT_HTTP_RETRIES": "0",
            "PXEIMPORT_LOG_LEVEL": "INFO",  # the workers' logs say why each converge ran
        }
        self.region_env = self.env | {
            "DATABASE_URL": region_database or f"sqlite:///{self.region_db}",
            "PXEIMPORT_PUBLISH_ROOT": str(self.publish_root),
            "PXEIMPORT_PUBLISH_URL": self.region_http.url,
            "PXEIMPORT_REGION_GNUPGHOME": str(tmp / "region-gnupg"),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.rack_names: set[str] = set()
        self.broker = broker
        # Migrate once; every database is a copy.
        self.template = tmp / "template.sqlite3"
        self.manage("migrate", "-v0", env=self.env | {"DATABASE_URL": f"sqlite:///{self.template}"})
        if not region_database:
            shutil.copy(self.template, self.region_db)
        self.keyring = tmp / "region.gpg"
        self.manage("export_region_keyring", str(self.keyring), env=self.region_env)
        region = f"pxeimport.{keyring_fingerprint(self.keyring)[-16:].lower()}"  # the key id
        self.queues = {"region": f"{region}.region", "prefix": f"{region}.rack."}

    @property
    def region_root(self) -> Path:
        return self.tmp / "region-tftp"

    def manage(self, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """manage.py `args`; with `check`, RuntimeError saying its exit and the end of its stderr when it fails."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=PROJECT, env=env, timeout=600, capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
        return done

    def region_import(self, *, broker: bool = True, selection: Sequence[str] = SELECTION) -> None:
        """import_pxe_files on the region (`selection` (): its saved selection, region_saves); AssertionError
        with its stderr when it fails."""
        env = self.region_env if broker else self.region_env | {"CELERY_BROKER_URL": ""}
        args = ("--archive", self.upstream.url + "dists/", "--keyring", str(self.upstream_keyring)) if selection else ()
        done = self.manage(
            "import_pxe_files", *args, "--tftproot", str(self.region_root), *selection, env=env, check=False
        )
        assert done.returncode == 0, done.stderr

    def region_saves(self, arches: Sequence[str], releases: Sequence[str], current_release: str = "bookworm") -> None:
        """The region's saved selection becomes one boot source on the upstream with `arches` x `releases`
        (written as the admin would, through the models); `region_import(selection=())` then imports it."""
        code = (
            "from pxeimport.models import BootSource as B; B.objects.all().delete(); "
            f"s = B.objects.create(name='upstream', url={self.upstream.url + 'dists/'!r}, "
            f"keyring={str(self.upstream_keyring)!r}, current_release={current_release!r}); "
            f"[s.arches.create(name=a) for a in {list(arches)!r}]; "
            f"[s.releases.create(name=r) for r in {list(releases)!r}]"
        )
        self.manage("shell", "-v0", "-c", code, env=self.region_env)

    def rack_states(self, env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
        """{rack: (state, detail)} as the region's Racks page shows them now (its own code, its settings)."""
        code = (
            "import json; from pxeimport.racks import all_statuses; "
            "print(json.dumps({s.rack.name: [s.state, s.detail] for s in all_statuses()}))"
        )
        done = self.manage("shell", "-v0", "-c", code, env=env or self.region_env)
        return {name: (state, detail) for name, (state, detail) in json.loads(done.stdout).items()}

    def start(self, name: str, args: list[str], env: dict[str, str], prefix: Sequence[str] = ()) -> None:
        """manage.py `args` as a process named `name`, its output in <name>.log; `prefix` runs it (ip netns exec)."""
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            [*prefix, sys.executable, "manage.py", *args], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_region_worker(self, sync_seconds: float = 3600) -> None:
        env = self.region_env | {"PXEIMPORT_RACK_SYNC_SECONDS": str(sync_seconds)}
        self.start("region", ["region_worker", "--schedule", str(self.tmp / "beat-schedule")], env)

    def rack_root(self, name: str) -> Path:
        return self.tmp / f"rack-{name}"

    def rack_database(self, name: str) -> Path:
        """Rack `name`'s own SQLite database, a copy of the migrated template made on first use."""
        db = self.tmp / f"rack-{name}.sqlite3"
        if not db.exists():
            shutil.copy(self.template, db)
        return db

    def start_rack(
        self, name: str, *, prefix: Sequence[str] = (), broker: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        """A rack worker; `prefix` runs it (e.g. in a network namespace), `broker` is its CELERY_BROKER_URL,
        `env` more of its environment (e.g. libfaketime's)."""
        db = self.rack_database(name)
        args = ["rack_worker", "--name", name, "--tftproot", str(self.rack_root(name))]
        args += ["--region", self.region_http.url, "--keyring", str(self.keyring)]
        env = self.env | {"DATABASE_URL": f"sqlite:///{db}", "CELERY_BROKER_URL": broker or self.broker} | (env or {})
        self.start(f"rack-{name}", args, env, prefix)
        self.rack_names.add(name)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def region_rows(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.region_db, timeout=20) as db:
            return list(db.execute(sql, params))

    def published_version(self, release: str = "bookworm") -> str:
        return os.readlink(install_link(self.region_root, release)).removeprefix("install-")

    def racks_in_sync(self, names: list[str], release: str = "bookworm") -> bool:
        """Whether every rack of `names` reported serving the region's version of `release`, without error."""
        version = self.published_version(release)
        rows = self.region_rows(
            "SELECT r.name FROM pxeimport_rackitemstate s JOIN pxeimport_rack r ON s.rack_id = r.id "
            "WHERE s.kind = 'install' AND s.release = ? AND s.region_version = ? AND s.error = ''",
            release,
            version,
        )
        return {str(r[0]) for r in rows} >= set(names)

    def racks_serving(self, names: list[str], release: str) -> bool:
        """Whether every rack of `names` serves the region's version of `release` (its TFTP root, now)."""
        region = os.readlink(install_link(self.region_root, release))
        return all(
            os.path.islink(link := install_link(self.rack_root(n), release)) and os.readlink(link) == region
            for n in names
        )

    def last_syncs(self) -> dict[str, str]:
        return {str(n): str(t) for n, t in self.region_rows("SELECT name, last_sync FROM pxeimport_rack")}

    def file_bytes(self) -> int:
        return sum(r.bytes_sent for r in self.region_http.requests if f"/{FILES_DIR}/" in r.path)

    def rack_queue(self, name: str) -> str:
        return self.queues["prefix"] + name

    def rack_control(self, name: str, command: str) -> str:
        """Celery's remote control `command` ("cancel_consumer", "add_consumer") for rack `name`'s own
        queue, sent to that rack worker only; its reply (AssertionError when it gave none)."""
        from celery import Celery

        app = Celery("pxeimport-test", broker=self.broker)
        node = f"{self.rack_queue(name)}@{socket.gethostname()}"  # rack_worker's --hostname <queue>@%h
        try:
            send = getattr(app.control, command)
            replies = send(self.rack_queue(name), destination=[node], reply=True, timeout=10)
        finally:
            app.close()
        assert replies, f"rack worker {node} did not answer {command}"
        return str(replies)

    def queue_state(self, queue: str) -> tuple[int, int]:
        """(messages ready, consumers) of `queue` on the broker now."""
        from kombu.connection import Connection

        with Connection(self.broker) as connection:  # type: ignore[no-untyped-call]
            _, messages, consumers = connection.default_channel.queue_declare(queue, passive=True)
        return int(messages), int(consumers)

    def queued_tasks(self, queue: str) -> dict[str, str]:
        """Task id -> "<task name>: <first argument>" of each message waiting in `queue`; they stay
        there (read unacked; the broker returns them to the queue when the channel closes)."""
        from kombu.connection import Connection

        tasks = {}
        with Connection(self.broker) as connection:  # type: ignore[no-untyped-call]
            channel = connection.channel()
            while (message := channel.basic_get(queue, no_ack=False)) is not None:
                args = json.loads(message.body)[0]  # Celery's message protocol 2: [args, kwargs, embed]
                tasks[message.headers["id"]] = f"{message.headers['task']}: {args[0] if args else ''}"
            channel.close()
        return tasks

    def purge(self, queue: str) -> int:
        """Delete every message ready in `queue` (not those delivered to a consumer); how many went."""
        from kombu.connection import Connection

        with Connection(self.broker) as connection:  # type: ignore[no-untyped-call]
            return int(connection.default_channel.queue_purge(queue) or 0)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.region_http.close()
        from kombu.connection import Connection

        with Connection(self.broker) as connection:  # type: ignore[no-untyped-call]
            channel = connection.default_channel
            rows = self.region_rows("SELECT queue FROM pxeimport_rack") if self.region_db.exists() else []
            queues = {str(row[0]) for row in rows}
            for queue in queues | {self.queues["prefix"] + name for name in self.rack_names}:
                channel.queue_delete(queue)
            channel.queue_delete(self.queues["region"])
