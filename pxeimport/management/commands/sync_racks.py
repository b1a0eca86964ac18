"""The old name of `wake_racks`, kept so existing cron lines, units and scripts keep working (CHANGES.md)."""

from pxeimport.management.commands.wake_racks import Command

__all__ = ["Command"]
