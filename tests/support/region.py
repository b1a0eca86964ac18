"""Run import_pxe_files in this process, as a region or a rack runs it, and give back what it said."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.commands import CommandResult


def run(*args: str) -> CommandResult:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_pxe_files", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return CommandResult(code, out.getvalue(), err.getvalue())
