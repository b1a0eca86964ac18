"""The old name of `export_region_keyring`, kept so existing cron lines, units and scripts keep working (CHANGES.md)."""

from pxeimport.management.commands.export_region_keyring import Command

__all__ = ["Command"]
