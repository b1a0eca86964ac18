"""The old name of `converge_rack`, kept so existing cron lines, units and scripts keep working (CHANGES.md)."""

from pxeimport.management.commands.converge_rack import Command

__all__ = ["Command"]
