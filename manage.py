#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks.

A bad setting (an environment variable the settings refuse: ImproperlyConfigured) is one line on
stderr and exit 2, the exit every command here gives bad configuration, so that systemd's
RestartPreventExitStatus=2 and cron's mail treat it as a mistake to fix, not a run to retry. So is a
database without the project's tables (never migrated) or without a column an upgrade added; a database
that cannot be reached is one line and exit 1, a run that may work later. A file or directory this user may
not read or write (a TFTP root or var/ made by root, run as the service user) is one line naming it and the
fix, exit 2.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError, ProgrammingError

    from pxeimport.lib import EXIT_FAILED, EXIT_USAGE

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"{os.path.basename(sys.argv[0])}: bad configuration: {exc}; nothing done\n")
        sys.exit(EXIT_USAGE)
    except PermissionError as exc:
        sys.stderr.write(
            f"{os.path.basename(sys.argv[0])}: permission denied: {exc.filename or exc}: this runs as uid "
            f"{os.geteuid()}; run it as the user that owns the file (the service user), or give this user "
            "access (chown or chmod); stopped there\n"
        )
        sys.exit(EXIT_USAGE)
    except (OperationalError, ProgrammingError) as exc:
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        name = os.path.basename(sys.argv[0])
        # SQLite's and PostgreSQL's words for a table, or a column an upgrade added, that is not there yet.
        if any(words in said for words in ("no such table", "no such column", "does not exist")):
            where = os.environ.get("DATABASE_URL", "the default SQLite database in var/")
            what = "has no pxeimport tables" if "table" in said else "is older than this pxeimport"
            sys.stderr.write(
                f"{name}: the database {what} ({said}): run `manage.py migrate` with the same "
                f"DATABASE_URL ({where.split('@')[-1]}) first; nothing done\n"
            )
            sys.exit(EXIT_USAGE)
        sys.stderr.write(f"{name}: the database cannot be used: {said}; check DATABASE_URL and the server\n")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
