"""Start an import from the web process: `manage.py import_pxe_files --trigger admin` in the background.

The command is the same one cron runs, so everything it promises holds: the TFTP root's lock makes it
one import at a time (a second one records a "locked" run and exits 75), and its run appears in the
history like any other. The web request only starts it and returns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

LOG_NAME = "import-now.log"
# Past this size the log is moved to import-now.log.1 (replacing the one before) and started afresh.
LOG_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Started:
    pid: int
    log: Path


def start_import(trigger: str = "admin") -> Started:
    """Start the import detached (its own session, so it outlives a restarted web worker); return at once.

    The child inherits this process's environment (DATABASE_URL, PXEIMPORT_*, proxies), with the TFTP
    root this process is configured for. Its output (with -v0: only failures) is appended to
    var/import-now.log. A thread waits for it, so no zombie is left behind.
    """
    log_path = Path(settings.VAR_DIR) / LOG_NAME
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() and log_path.stat().st_size > LOG_MAX_BYTES:
        log_path.replace(log_path.with_name(LOG_NAME + ".1"))
    manage = Path(settings.BASE_DIR) / "manage.py"
    argv = [sys.executable, str(manage), "import_pxe_files", "--trigger", trigger, "-v0"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "settings"),
        "PXEIMPORT_TFTPROOT": str(settings.PXEIMPORT_TFTPROOT),
    }
    with open(log_path, "ab") as log:
        log.write(f"{timezone.now():%Y-%m-%d %H:%M:%S%z} import started by the {trigger}\n".encode())
        log.flush()
        process = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    threading.Thread(target=process.wait, name=f"wait-import-{process.pid}", daemon=True).start()
    return Started(process.pid, log_path)
