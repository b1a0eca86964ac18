"""docs/operator/install.md, followed as written: its `sh install` blocks run in order as root, in a scratch
PREFIX, with a service user of this test's own. Where systemd would start a unit, this test starts the
installed unit's ExecStart (its ${VARIABLES} from the environment file) as the unit's User=, in its
WorkingDirectory: the nightly import from a loopback archive, then the admin under gunicorn, which a real
Chromium logs in to. No step is the test's own but those: the fake systemctl that records what the page
asks of systemd, the boot source an operator would pick in the admin, and the port the admin listens on.

pip installs from a wheelhouse of the pinned requirements (`make wheels`, which .ci/run runs), set by
pip's own PIP_NO_INDEX/PIP_FIND_LINKS: no network but loopback in tests. The clone is of this checkout's
committed HEAD, as an operator's would be of a published commit.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.requirements import require_tool, skip_or_fail
from tests.support.settings import BASE_DIR
from tests.support.web import admin_page, free_port, wait_for
from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer

pytestmark = pytest.mark.slow

PAGE = BASE_DIR / "docs" / "operator" / "install.md"
WHEELS = BASE_DIR / "var" / "wheels"
BLOCK = re.compile(r"^```sh install\n(.*?)^```$", re.M | re.S)


def install_script() -> str:
    """The page's install blocks, in order, as one shell script."""
    blocks = BLOCK.findall(PAGE.read_text())
    assert len(blocks) >= 6, "install.md lost its `sh install` blocks"
    return "set -eu\n" + "\n".join(blocks)


class Install:
    """A scratch install below `prefix`, and how to run a unit's command as its user."""

    def __init__(self, prefix: Path, user: str) -> None:
        self.prefix, self.user = prefix, user
        self.app, self.state, self.tftp = prefix / "srv/pxeimport", prefix / "var/lib/pxeimport", prefix / "srv/tftp"
        self.env_file = prefix / "etc/default/pxeimport"

    def variables(self) -> dict[str, str]:
        """The environment file's assignments (KEY=value lines), as systemd's EnvironmentFile= reads them."""
        found = {}
        for line in self.env_file.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                found[key.strip()] = value.strip()
        return found

    def unit_command(self, unit: str) -> tuple[list[str], str, str]:
        """(ExecStart as argv with ${VAR} expanded from the environment file, User=, WorkingDirectory=)."""
        text = (self.prefix / "etc/systemd/system" / unit).read_text()
        fields = dict(re.findall(r"^(ExecStart|User|WorkingDirectory)=(.*)$", text, re.M))
        values = self.variables()
        command = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], fields["ExecStart"])
        return shlex.split(command), fields["User"], fields["WorkingDirectory"]

    def start(self, unit: str, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
        argv, user, cwd = self.unit_command(unit)
        env = service_environment() | {"PXEIMPORT_ENV_FILE": str(self.env_file)}
        return subprocess.Popen(["runuser", "-u", user, "--", *argv], cwd=cwd, env=env, stdout=stdout, stderr=stderr)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = service_environment() | {"PXEIMPORT_ENV_FILE": str(self.env_file)}
        python = str(self.app / ".venv/bin/python")
        return subprocess.run(
            ["runuser", "-u", self.user, "--", python, "manage.py", *args],
            cwd=self.app,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


def service_environment() -> dict[str, str]:
    """What a fresh root shell, or systemd, gives a command: Debian's PATH (this machine's own Python
    builds, pyenv's, are not on it), the locale, none of this test's settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL")}
    return keep | {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    }


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    if os.geteuid() != 0:
        pytest.skip("the install runs as root (useradd, runuser), as the page says")
    for tool in ("useradd", "userdel", "runuser", "git", "make"):
        require_tool(tool)
    if not Path("/usr/bin/python3").exists():
        skip_or_fail("/usr/bin/python3 is missing (apt-get install python3-venv)")
    if not any(WHEELS.glob("gunicorn-*.whl")):
        skip_or_fail(f"no wheelhouse in {WHEELS}: run `make wheels` (.ci/run does)")
    # World-traversable, unlike pytest's own temporary directories: the service user reads the code.
    prefix = Path(tempfile.mkdtemp(prefix="pxeimport-install-", dir="/tmp"))
    prefix.chmod(0o755)
    user = f"pxeimport-t{secrets.token_hex(3)}"
    try:
        yield Install(prefix, user)
    finally:
        subprocess.run(["pkill", "-u", user], capture_output=True)
        subprocess.run(["userdel", user], capture_output=True)
        shutil.rmtree(prefix, ignore_errors=True)


def test_the_install_page_run_as_written_makes_a_service_that_imports_and_serves_the_admin(
    install: Install, archive: ArchiveTree, archive_server: ArchiveServer, signer, tmp_path: Path
):
    systemctl = install.prefix / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {install.prefix}/systemctl.log\n')
    systemctl.chmod(0o755)
    env = service_environment() | {
        "PREFIX": str(install.prefix),
        "SYSTEMCTL": str(systemctl),
        "SERVICE_USER": install.user,
        "SOURCE": str(BASE_DIR),
        "ADMIN_PASSWORD": "a long admin password",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELS),
        "DEBIAN_FRONTEND": "noninteractive",
    }
    done = subprocess.run(["bash", "-c", install_script()], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    asked = (install.prefix / "systemctl.log").read_text().splitlines()
    assert asked[-1] == "enable --now pxeimport-web.service pxeimport-import.timer pxeimport-verify.timer"
    # The state is the service user's own, made by it.
    for made in ("pxeimport.sqlite3", "secret_key", "static"):
        assert (install.state / made).owner() == install.user, made
    assert not (install.app / "var").exists()  # nothing of the service's state in the checkout

    # The operator picks a boot source (here from the shell, as the service user): the loopback archive.
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    keyring = install.prefix / "archive.gpg"
    shutil.copy(signer.keyring, keyring)
    keyring.chmod(0o644)
    pick = (
        "from pxeimport.models import BootSource as B; B.objects.update(enabled=False); "
        f"s = B.objects.create(name='mirror', url={archive_server.url + 'dists/'!r}, keyring={str(keyring)!r}, "
        "distribution='debian', current_release='bookworm'); s.arches.create(name='amd64'); "
        "s.releases.create(name='bookworm')"
    )
    assert install.manage("shell", "-v0", "-c", pick).returncode == 0

    # What the timer starts: the import unit's command, as its user.
    nightly = install.start("pxeimport-import.service", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = nightly.communicate(timeout=300)
    assert nightly.returncode == 0, err.decode()[-3000:]
    served = install.tftp / "maas/amd64/base/bookworm/install/linux"
    assert served.read_bytes() == netboot_files("v1")["linux"] and served.owner() == install.user
    # A dry run by hand as the service user afterwards meets nothing of root's.
    by_hand = install.manage("import_pxe_files", "--dry-run")
    assert by_hand.returncode == 0 and "would stop" not in by_hand.stderr, by_hand.stderr

    # The admin under gunicorn, as the web unit starts it; a browser logs in and reads the status page.
    port = free_port()
    text = install.env_file.read_text().replace(
        "PXEIMPORT_WEB_BIND=127.0.0.1:8000", f"PXEIMPORT_WEB_BIND=127.0.0.1:{port}"
    )
    install.env_file.write_text(text)
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 (closed below)
    web = install.start("pxeimport-web.service", stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", web)
        status = admin_status_page(f"http://127.0.0.1:{port}", "a long admin password")
    finally:
        web.terminate()
        web.wait(timeout=30)
        log.close()
    assert str(install.tftp) in status  # the root the service imports into, not /var/lib/tftpboot
    assert "bookworm" in status and "Succeeded" in status


def admin_status_page(url: str, password: str) -> str:
    """Log in to the admin in Chromium and return the status page's text."""
    with admin_page(url, "admin", password) as page:
        page.click("#status-link")
        return str(page.locator("body").inner_text())
