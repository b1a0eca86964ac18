#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks.

A bad setting (an environment variable the settings refuse: ImproperlyConfigured) is one line on
stderr and exit 2, the exit every command here gives bad configuration, so that systemd's
RestartPreventExitStatus=2 and cron's mail treat it as a mistake to fix, not a run to retry.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from pxeimport.lib import EXIT_USAGE

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"{os.path.basename(sys.argv[0])}: bad configuration: {exc}; nothing done\n")
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
