"""Files the service user may not read or write are one line naming the file and the fix, never a traceback:
run as root without its power over file permissions (setpriv), on files another user owns, as happens when
root ran first by hand and the service user runs next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.settings import OURS
from tests.support.subprocess_db import PROJECT
from tests.support.users import NOBODY, bound_by_permissions
from tools.anaconda_iso import IsoDirectory, boot_iso
from tools.faultserver import FaultServer

pytestmark = pytest.mark.slow


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping root's power over file permissions needs root")


def environment(**more: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith((*OURS, "SECRET_KEY"))}
    return clean | {"PYTHONDONTWRITEBYTECODE": "1", "DJANGO_SETTINGS_MODULE": "settings"} | more


def owned_by_nobody(path: Path, mode: int) -> Path:
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)
    return path


def test_a_secret_key_file_the_user_cannot_read_is_one_line_naming_the_fix_and_exit_2(tmp_path):
    """var/secret_key, made 0600 by whoever ran first: the service user used to get a PermissionError
    traceback before any command started."""
    need_root()
    var = owned_by_nobody(tmp_path, 0o755)
    key = var / "secret_key"
    key.write_text("made-by-another-user")
    owned_by_nobody(key, 0o600)
    env = environment(PXEIMPORT_VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = bound_by_permissions(sys.executable, "manage.py", "check", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{key} is not readable or writable by uid 0" in result.stderr
    assert "or set SECRET_KEY in the environment" in result.stderr


def test_a_directory_the_command_cannot_write_is_one_line_naming_it_and_exit_2(tmp_path):
    """collectstatic into var/static as the service user, after root made var/: any command's PermissionError
    is one line from manage.py."""
    need_root()
    var = owned_by_nobody(tmp_path, 0o755)
    env = environment(SECRET_KEY="test-only", PXEIMPORT_VAR_DIR=str(var), DATABASE_URL="sqlite:///:memory:")
    result = bound_by_permissions(sys.executable, "manage.py", "collectstatic", "--noinput", "-v0", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"manage.py: permission denied: {var / 'static'}: this runs as uid 0")


def test_a_keyring_the_user_cannot_read_is_one_line_and_exit_2(tmp_path):
    need_root()
    keyring = tmp_path / "archive.gpg"
    keyring.write_bytes(b"\x99\x00\x01")
    owned_by_nobody(keyring, 0o600)
    env = environment(SECRET_KEY="test-only", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    args = ["--archive", "http://127.0.0.1:9/debian/dists/", "--keyring", str(keyring), "--tftproot", str(tmp_path)]
    result = bound_by_permissions(sys.executable, "manage.py", "import_pxe_files", *args, "--dry-run", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"--keyring {keyring}: keyring file not readable by uid 0" in result.stderr


def test_an_environment_file_the_user_cannot_read_is_one_line_not_silently_the_defaults(tmp_path):
    """django-environ skips a file it cannot open without a word: every setting silently fell back."""
    need_root()
    env_file = tmp_path / "pxeimport"
    env_file.write_text("PXEIMPORT_TFTPROOT=/srv/tftp\n")
    owned_by_nobody(env_file, 0o600)
    env = environment(SECRET_KEY="test-only", PXEIMPORT_ENV_FILE=str(env_file), DATABASE_URL="sqlite:///:memory:")
    result = bound_by_permissions(sys.executable, "manage.py", "check", env=env)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.count("\n") == 1 and f"{env_file} is not readable by <the service user> (uid 0)" in result.stderr
    )
    assert f"chmod 640 {env_file}" in result.stderr


def test_the_web_server_with_a_bad_setting_is_one_line_and_exit_2_not_a_traceback_per_worker(tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    env = environment(SECRET_KEY="test-only", PXEIMPORT_LOG_LEVEL="LOUD", DATABASE_URL="sqlite:///:memory:")
    args = [str(gunicorn), "web.wsgi:application", "--preload", "--bind", "127.0.0.1:0", "--workers", "2"]
    result = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "pxeimport web: bad configuration: PXEIMPORT_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
        "not 'LOUD'; not started\n"
    )


def test_root_running_an_import_in_the_service_users_root_is_warned_with_the_command_to_use(tmp_path):
    need_root()
    (tmp_path / "tftp").mkdir()
    root = owned_by_nobody(tmp_path / "tftp", 0o755)
    env = environment(SECRET_KEY="test-only", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT, env=env, check=True)
    args = ["--archive", "http://127.0.0.1:9/debian/dists/", "--release", "bookworm", "--tftproot", str(root)]
    result = subprocess.run(
        [sys.executable, "manage.py", "import_pxe_files", *args, "--dry-run"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert f"WARNING: running as root in {root}, which nobody owns" in result.stderr
    assert f"runuser -u nobody -- {sys.executable} manage.py import_pxe_files" in result.stderr


def test_an_http_root_directory_the_user_cannot_write_is_one_line_and_exit_2_before_any_download(tmp_path, signer):
    """The installer image goes into the HTTP root: a directory there that root made on a first run by hand
    used to fail the item with a bare errno after the ISO (about 1 GB) had been downloaded, every night."""
    need_root()
    upstream = tmp_path / "upstream"
    directory = IsoDirectory(upstream, "almalinux/9/isos/x86_64", signer)
    directory.add("AlmaLinux-9.5-x86_64-boot.iso", boot_iso(tmp_path / "a.iso", "AlmaLinux", "9.5", b"k", b"i", b"s"))
    directory.write_list()
    http = tmp_path / "http"
    (http / "images" / "almalinux").mkdir(parents=True)
    owned_by_nobody(http / "images" / "almalinux", 0o755)
    env = environment(
        SECRET_KEY="test-only", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PXEIMPORT_HTTP_ROOT=str(http), PXEIMPORT_HTTP_URL="http://boot.example.org/pxe",
    )  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT, env=env, check=True)
    with FaultServer(upstream) as server:
        args = ["--layout", "anaconda-iso", "--archive", server.url + "almalinux/", "--keyring", str(signer.keyring)]
        args += ["--arch", "amd64", "--release", "9", "--tftproot", str(tmp_path / "tftp")]
        result = bound_by_permissions(sys.executable, "manage.py", "import_pxe_files", *args, env=env)
        fetched = [r.path for r in server.requests]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    said = f"cannot use HTTP root {http} (PXEIMPORT_HTTP_ROOT): {http / 'images' / 'almalinux'}: permission denied"
    assert said in result.stderr, result.stderr
    assert f"as root: chown -R root: {http}" in result.stderr, result.stderr
    assert fetched == []
