"""The commands' names: verb-first where the old names were ambiguous, the old names still run the new commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class

RENAMED = {"sync_racks": "wake_racks", "rack_sync": "converge_rack", "region_keyring": "export_region_keyring"}


@pytest.mark.parametrize(("old", "new"), RENAMED.items())
def test_an_old_command_name_runs_the_new_command(old: str, new: str):
    assert get_commands()[old] == get_commands()[new] == "pxeimport"
    assert type(load_command_class("pxeimport", old)) is type(load_command_class("pxeimport", new))


@pytest.mark.parametrize("old", RENAMED)
def test_an_old_command_name_still_parses_its_options_and_helps(old: str):
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(old, "--help", stdout=out)
    assert exited.value.code == 0


def test_the_old_rack_sync_line_of_a_crontab_still_parses():
    parser = load_command_class("pxeimport", "rack_sync").create_parser("manage.py", "rack_sync")
    options = parser.parse_args(
        ["-v0", "--tftproot", "/srv/tftp", "--region", "http://region.example.org/", "--keyring", "k"]
    )
    assert options.region == "http://region.example.org/" and options.verbosity == 0
