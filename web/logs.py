"""Logging for cron mail and the journal: level and logger on every line, no passwords.

Configured from settings.LOGGING. No Django imports: logging is set up before the apps load.
"""

from __future__ import annotations

import logging
import os

from pxeimport.lib import redact_text

# syslog priorities, which journald reads from a "<N>" line prefix on a service's stdout/stderr.
_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def stderr_is_journal() -> bool:
    """True when stderr is the journal stream systemd announced in JOURNAL_STREAM ("device:inode").

    Compared with stderr itself, as systemd.exec(5) advises: a child whose stderr was redirected
    inherits the variable but not the stream.
    """
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        st = os.fstat(2)
        return (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


class JournalFormatter(logging.Formatter):
    """`LEVEL logger: message`, passwords in URLs masked, with a "<N>" priority prefix when stderr goes to the journal.

    journald strips the prefix and files the line at that priority (`journalctl -p warning`). In a
    terminal or a cron mail the line stays plain. No timestamp: journald and cron add their own.
    """

    def __init__(self, fmt: str | None = None, *, journal: bool | None = None) -> None:
        super().__init__(fmt or "%(levelname)s %(name)s: %(message)s")
        self.journal = stderr_is_journal() if journal is None else journal

    def format(self, record: logging.LogRecord) -> str:
        # The whole text, traceback included: an exception's message may quote a URL with its password.
        text = redact_text(super().format(record))
        if not self.journal:
            return text
        priority = _PRIORITIES.get(record.levelno, 4 if record.levelno > logging.INFO else 6)
        # Each line of a traceback gets the prefix, or journald files the rest at the default priority.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())
