"""Logs for cron and the journal: each failed item with its context, level and logger on every line, no passwords."""

from __future__ import annotations

import logging
import os

import pytest

from pxeimport.lib import redact_text, redact_url, restore_password
from tools.archive import ArchiveTree, netboot_files
from web.logs import JournalFormatter, stderr_is_journal


def record(message: str, level: int = logging.WARNING, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("pxeimport.importer.run", level, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_a_failed_item_is_said_once_on_stderr_with_its_source_url_reason_and_what_was_kept(
    archive: ArchiveTree, import_pxe, caplog, capfd
):
    archive.publish("bookworm", "amd64", netboot_files("v1"))

    result = import_pxe(
        "--arch", "amd64", "--release", "bookworm", "--release", "forky", "--current-release", "bookworm"
    )

    # Cron mails stderr: the command's own and the log handler's. One line for the one failure.
    logged = capfd.readouterr().err
    lines = [line for line in (result.stderr + logged).splitlines() if "forky" in line]
    assert len(lines) == 1, lines
    [line] = lines
    assert line.startswith("amd64/forky install failed: http")
    assert "/dists/forky/main/installer-amd64/current/images/SHA256SUMS: HTTP 404" in line
    assert line.endswith(
        "[boot source 'command-line']; nothing was installed before; nothing is served for amd64/forky"
    )
    # With PXEIMPORT_LOG_LEVEL=INFO the journal gets the fields too.
    caplog.clear()
    caplog.set_level(logging.INFO, logger="pxeimport")
    import_pxe("--arch", "amd64", "--release", "forky", "--current-release", "bookworm")
    [record] = [r for r in caplog.records if r.name == "pxeimport.importer.run" and "forky" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert (record.source, record.arch, record.release) == ("command-line", "amd64", "forky")
    assert record.url.endswith("/dists/forky/main/installer-amd64/current/images/SHA256SUMS")
    assert "HTTP 404" in record.reason


def test_the_console_handler_uses_the_journal_formatter():
    [handler] = logging.getLogger("pxeimport").handlers
    assert isinstance(handler.formatter, JournalFormatter)


def test_a_log_line_has_level_and_logger_but_no_timestamp():
    assert JournalFormatter(journal=False).format(record("disk full")) == "WARNING pxeimport.importer.run: disk full"


def test_on_the_journal_each_line_carries_its_syslog_priority():
    formatter = JournalFormatter(journal=True)
    assert formatter.format(record("two\nlines")) == "<4>WARNING pxeimport.importer.run: two\n<4>lines"
    assert formatter.format(record("fine", logging.INFO)).startswith("<6>INFO ")
    assert formatter.format(record("bad", logging.ERROR)).startswith("<3>ERROR ")


def test_journal_stream_counts_only_when_it_names_stderr_itself(monkeypatch):
    st = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    assert stderr_is_journal()
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
    assert not stderr_is_journal()
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not stderr_is_journal()


def test_passwords_in_urls_are_masked_in_messages_and_tracebacks():
    try:
        raise OSError("cannot reach http://maas:s3cret@squid:3128")
    except OSError as exc:
        line = JournalFormatter(journal=False).format(
            record("via https://maas:s3cret@squid:3128/ failed", exc_info=(type(exc), exc, exc.__traceback__))
        )
    assert "s3cret" not in line
    assert "via https://maas:***@squid:3128/ failed" in line
    assert "cannot reach http://maas:***@squid:3128" in line


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://maas:s3cret@squid.example:3128", "http://maas:***@squid.example:3128"),
        ("http://maas:p@ss:w@rd@squid:3128/", "http://maas:***@squid:3128/"),
        ("http://:tok@squid:3128", "http://:***@squid:3128"),
        ("http://maas@squid:3128", "http://maas@squid:3128"),
        ("http://squid:3128", "http://squid:3128"),
        ("", ""),
    ],
)
def test_a_url_is_shown_without_its_password(url, shown):
    assert redact_url(url) == shown
    assert redact_text(f"proxy {url} refused") == f"proxy {shown} refused"


def test_a_masked_password_saved_back_means_the_stored_one():
    stored = "http://maas:s3cret@squid:3128"
    assert restore_password("http://maas:***@squid:3129", stored) == "http://maas:s3cret@squid:3129"
    assert restore_password("http://maas:other@squid:3128", stored) == "http://maas:other@squid:3128"
    # Another user name does not inherit the stored password.
    assert restore_password("http://root:***@squid:3128", stored) == "http://root:***@squid:3128"


MODES = [(dry, verbosity) for dry in (True, False) for verbosity in (0, 1, 2, 3)]


@pytest.mark.django_db
@pytest.mark.parametrize(("dry", "verbosity"), MODES, ids=[f"{'dry' if d else 'real'}-v{v}" for d, v in MODES])
def test_every_failure_and_every_damage_is_said_exactly_once_in_every_mode(
    archive: ArchiveTree, import_pxe, tftp_root, capfd, caplog, dry: bool, verbosity: int
):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    linux = tftp_root / "maas/amd64/base/bookworm/install/linux"
    size, mtime = linux.stat().st_size, linux.stat().st_mtime_ns
    linux.write_bytes(b"x" * size)  # bit rot: same size and mtime, found by --verify only
    os.utime(linux, ns=(mtime, mtime))
    capfd.readouterr()
    caplog.clear()

    extra = ("--dry-run",) if dry else ()
    result = import_pxe(*args, "--release", "forky", "--verify", *extra, verbosity=verbosity)

    # What cron mails: the command's stdout and stderr, and the log records at the stderr handler's WARNING.
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    said = "\n".join([result.stdout, result.stderr, capfd.readouterr().err, *logged])
    assert result.code == 1
    assert said.count("HTTP 404 (not found)") == 1, said  # the failure: its reason once
    assert said.count("/linux: ") == 1, said  # the damage: once
