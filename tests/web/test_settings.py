"""Settings from the environment: a bad value stops start-up with ImproperlyConfigured naming the variable."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support.settings import import_settings, run

pytestmark = pytest.mark.slow


def test_defaults_need_no_environment():
    result = import_settings()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "grace": 3600,
        "root": "/var/lib/tftpboot",
        "timeout": 60.0,
        "retries": 3,
        "max": 4 << 30,
        "debug": False,
        "engine": "django.db.backends.sqlite3",
    }


def test_manage_py_check_passes_with_the_defaults():
    result = run("manage.py", "check")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_good_values_from_the_environment_are_used():
    result = import_settings(
        PXEIMPORT_GRACE_SECONDS="60",
        PXEIMPORT_TFTPROOT="/srv/tftp",
        PXEIMPORT_HTTP_TIMEOUT="2.5",
        PXEIMPORT_HTTP_RETRIES="0",
        PXEIMPORT_MAX_FILE_BYTES="1000",
        DEBUG="true",
        DATABASE_URL="postgres://maas:secret@db.example/maas",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["grace"], shown["root"], shown["timeout"], shown["retries"], shown["max"]) == (
        60,
        "/srv/tftp",
        2.5,
        0,
        1000,
    )
    assert shown["debug"] is True
    assert shown["engine"] == "django.db.backends.postgresql"


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("PXEIMPORT_GRACE_SECONDS", "abc", "int"),
        ("PXEIMPORT_GRACE_SECONDS", "1.5", "int"),
        ("PXEIMPORT_HTTP_TIMEOUT", "fast", "float"),
        ("PXEIMPORT_HTTP_RETRIES", "many", "int"),
        ("PXEIMPORT_MAX_FILE_BYTES", "4G", "int"),
    ],
)
def test_a_value_of_the_wrong_type_is_improperly_configured_naming_the_variable(name, value, kind):
    result = import_settings(**{name: value})
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert f"{name}={value!r} is not a valid {kind}" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("PXEIMPORT_GRACE_SECONDS", "-1"), ("PXEIMPORT_HTTP_RETRIES", "-3"), ("PXEIMPORT_HTTP_TIMEOUT", "0")],
)
def test_an_out_of_range_value_is_improperly_configured_naming_the_variable(name, value):
    result = import_settings(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]


def test_a_database_url_with_an_unknown_scheme_is_improperly_configured_naming_the_variable():
    result = import_settings(DATABASE_URL="nonsense://x")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DATABASE_URL" in result.stderr.splitlines()[-1]


def test_an_empty_database_url_is_improperly_configured_naming_the_variable():
    result = import_settings(DATABASE_URL="")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DATABASE_URL" in result.stderr.splitlines()[-1]


BAD_SETTINGS = {
    "PXEIMPORT_JOBS": ("abc", "PXEIMPORT_JOBS='abc' is not a valid int"),
    "PXEIMPORT_GRACE_SECONDS": ("abc", "PXEIMPORT_GRACE_SECONDS='abc' is not a valid int"),
    "PXEIMPORT_MENU_TIMEOUT": ("-1", "PXEIMPORT_MENU_TIMEOUT must be 0"),
    "PXEIMPORT_HTTP_ROOT": ("/srv/pxe-http", "set both PXEIMPORT_HTTP_ROOT and PXEIMPORT_HTTP_URL, or neither"),
    # Found by a newcomer: a traceback from logging's dictConfig, exit 1.
    "PXEIMPORT_LOG_LEVEL": ("LOUD", "PXEIMPORT_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'LOUD'"),
}


@pytest.mark.parametrize("variable", BAD_SETTINGS)
def test_a_bad_setting_is_one_line_and_exit_2_from_manage_py_not_a_traceback(variable):
    value, named = BAD_SETTINGS[variable]
    result = run("manage.py", "import_pxe_files", "--dry-run", **{variable: value})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("manage.py: bad configuration: ") and result.stderr.count("\n") == 1
    assert named in result.stderr and result.stderr.endswith("; nothing done\n")


def test_a_database_never_migrated_is_one_line_naming_migrate_and_exit_2(tmp_path):
    """Found by a newcomer: `no such table: pxeimport_bootsource` as a 30-frame traceback, exit 1."""
    result = run("manage.py", "import_pxe_files", "--dry-run", DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}")

    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "the database has no pxeimport tables (no such table: pxeimport_bootsource): run `manage.py migrate`" in (
        result.stderr
    )


def test_a_database_an_upgrade_has_not_migrated_is_one_line_naming_migrate_and_exit_2(tmp_path):
    """Found by a newcomer: code with a new column on a database without it said "check DATABASE_URL", exit 1."""
    database = tmp_path / "old.sqlite3"
    assert run("manage.py", "migrate", "-v0", DATABASE_URL=f"sqlite:///{database}").returncode == 0
    with sqlite3.connect(database) as db:
        db.execute("ALTER TABLE pxeimport_bootsource DROP COLUMN package_repo")

    result = run("manage.py", "import_pxe_files", "--dry-run", DATABASE_URL=f"sqlite:///{database}")

    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "the database is older than this pxeimport (no such column: pxeimport_bootsource.package_repo): run " in (
        result.stderr
    )


def test_a_database_that_cannot_be_reached_is_one_line_and_exit_1_a_run_that_may_work_later():
    result = run("manage.py", "import_pxe_files", "--dry-run", DATABASE_URL="postgres://pxe@127.0.0.1:1/pxeimport")

    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.startswith("manage.py: the database cannot be used: ") and "Connection refused" in result.stderr
    )
