"""Files the service user may not read or write are one line naming the file and the fix, never a traceback:
run as root without its power over file permissions (setpriv), on files another user owns, as happens when
root ran first by hand and the service user runs next."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.settings import OURS
from tests.support.users import NOBODY, bound_by_permissions

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
