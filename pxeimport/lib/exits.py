"""Exit statuses of every pxeimport command, in one place: cron, systemd units and the docs read this table.

- EXIT_OK (0): done; at -v0 nothing was printed.
- EXIT_FAILED (1): something asked for was not done (an item failed, menus could not be written, damage
  was found, a rack's converge failed); what was served before is still served.
- EXIT_USAGE (2): the command line or the configuration is wrong (a bad option or setting, an unusable
  TFTP root, a missing keyring); nothing was tried. Units set RestartPreventExitStatus=2: retrying cannot help.
- EXIT_LOCKED (75): another import holds the TFTP root's lock; nothing was done. EX_TEMPFAIL of BSD's
  sysexits.h: cron or the timer may simply try again later.
- 128 + N: stopped by signal N (143 for SIGTERM, 130 for SIGINT), as a shell reports it (importer.Stopped).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75


def signal_exit(signum: int) -> int:
    """The status a process ended by signal `signum` reports in a shell: 128 + the number."""
    return 128 + signum
