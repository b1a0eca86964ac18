"""Run a contrib nginx site for real in a test: its marked lines replaced, nginx in the foreground on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.requirements import require_tool


def site_with(site: Path, replacements: tuple[tuple[str, str], ...]) -> str:
    """The site's text with each marked line replaced; AssertionError if a marked line is gone."""
    text = site.read_text()
    for marked, value in replacements:
        assert marked in text, f"the site no longer has {marked!r}: update this test and the README"
        text = text.replace(marked, value)
    return text


BOOT_SITE = Path(__file__).resolve().parents[2] / "contrib" / "nginx" / "pxeimport-boot"


def boot_site(port: int, http_root: Path, tftp_root: Path) -> str:
    """The contrib boot site as shipped, listening on 127.0.0.1:`port`, serving these two roots."""
    replacements = (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("/srv/pxeimport/http/", f"{http_root}/"),
        ("/var/lib/tftpboot/", f"{tftp_root}/"),
    )
    return site_with(BOOT_SITE, replacements)


@contextlib.contextmanager
def running_nginx(site: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """nginx serving `site` (a server block) with its pid, logs and temp files in `workdir`; stopped after."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        nginx = require_tool("nginx")
    (workdir / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(
        f"{user}\ndaemon off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
        "events {}\nhttp {\n  include /etc/nginx/mime.types;\n"
        f"  access_log {workdir}/access.log;\n  client_body_temp_path {workdir};\n"
        f"  proxy_temp_path {workdir}/proxy;\n  include {workdir}/site.conf;\n}}\n"
    )
    server = subprocess.Popen([nginx, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)])
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=10)
