"""`{{ value|megabytes }}`: a byte count as the command says it (decimal megabytes, pxeimport.lib.megabytes),
never Django's filesizeformat, whose "MB" are mebibytes: one run was "49.1 MB" in the terminal and "46.8 MB" here."""

from __future__ import annotations

from django import template

from pxeimport.lib import megabytes as _megabytes

register = template.Library()


@register.filter
def megabytes(size: int | None) -> str:
    return _megabytes(size or 0)
