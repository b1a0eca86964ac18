"""`make soak` (python -m tools.soak --nights N --seed S): nights of random change, the nightly import, and the
invariants checked after each night; a table of what happened and was checked; on a violation, the seed,
the night and its events to replay it, and exit 1."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pxeimport.lib import redact_url

BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__)
    parser.add_argument("--nights", type=_count, default=30, help="how many nights (default 30; a year: 365)")
    parser.add_argument("--seed", type=int, default=1, help="the random seed: the same seed, the same nights")
    parser.add_argument(
        "--broker",
        default=BROKER,
        help=f"RabbitMQ's URL for the racks (two rack workers on it, one brokerless rack; default {BROKER})",
    )
    parser.add_argument("--no-racks", action="store_true", help="the server alone: no region index, no racks")
    parser.add_argument(
        "--work", type=Path, help="an empty or new directory for the world (default: a fresh temporary directory)"
    )
    return parser.parse_args(argv)


def broker_problem(url: str) -> str:
    """Why the racks cannot use RabbitMQ at `url` ("" when it takes this login), in one line."""
    from kombu.connection import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:  # type: ignore[no-untyped-call]
            connection.connect()
    except Exception as exc:  # refused, a wrong login, not AMQP: all said the same way
        said = str(exc) or type(exc).__name__
        fix = "check its user and password" if "ACCESS_REFUSED" in said else "start RabbitMQ"
        return f"--broker {redact_url(url)}: cannot be used ({said}); {fix}, or soak with --no-racks"
    return ""


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of nights (0 or more)")
    return int(value)


def configure(work: Path) -> None:
    """Django on a database of the soak's own, with no grace period (what a night retires goes that night), and
    nothing of this machine's pxeimport settings: every PXEIMPORT_ variable dropped and an empty environment
    file (a server's /etc/default/pxeimport names its real HTTP and publish roots)."""
    for name in [n for n in os.environ if n.startswith("PXEIMPORT_")]:
        del os.environ[name]
    (work / "environment").write_text("")
    os.environ["PXEIMPORT_ENV_FILE"] = str(work / "environment")
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'soak.sqlite3'}"
    os.environ["PXEIMPORT_VAR_DIR"] = str(work / "var")
    os.environ.setdefault("SECRET_KEY", "soak-only")
    for name, value in {"GRACE_SECONDS": "0", "HTTP_RETRIES": "0", "HTTP_BACKOFF": "0", "MENU_TIMEOUT": "5"}.items():
        os.environ[f"PXEIMPORT_{name}"] = value
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the soak stops its processes, unmounts, and prints its table


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    with contextlib.ExitStack() as stack:
        if options.work is None:
            options.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pxeimport-soak-")))
        work = Path(options.work).absolute()
        if work.exists() and (not work.is_dir() or any(work.iterdir())):
            what = "a used directory" if work.is_dir() else "not a directory"
            print(f"--work {work}: {what}; the soak builds its world afresh in a new or empty one", file=sys.stderr)
            return 2
        problem = "" if options.no_racks else broker_problem(options.broker)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        work.mkdir(parents=True, exist_ok=True)
        configure(work)
        from tools.soak.run import soak

        started = time.monotonic()
        broker = "" if options.no_racks else options.broker
        report = soak(work, nights=options.nights, seed=options.seed, broker=broker)
        print(report.table(time.monotonic() - started))
        if report.violation:
            print(report.violation, file=sys.stderr)
            return 1
        return 130 if report.interrupted is not None else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
