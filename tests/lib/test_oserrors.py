"""An operating system error in words: a full disk or quota says so, and where, once."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pxeimport.lib import describe_os_error


def full(code: int, path: str | None = None) -> OSError:
    return OSError(code, os.strerror(code), path) if path else OSError(code, os.strerror(code))


def test_a_full_disk_names_the_path_it_met_and_the_fix():
    said = describe_os_error(full(errno.ENOSPC, "/srv/tftp/maas"), Path("/srv/tftp"))

    assert said == "/srv/tftp/maas: its filesystem is full (No space left on device): free space there, then run again"


def test_a_full_disk_without_a_path_leaves_naming_the_tree_to_the_caller():
    said = describe_os_error(full(errno.ENOSPC), Path("/srv/tftp"))

    assert said == "its filesystem is full (No space left on device): free space there, then run again"


def test_a_used_up_quota_says_it_is_the_quota():
    assert describe_os_error(full(errno.EDQUOT, "/srv/tftp/maas")).startswith(
        "/srv/tftp/maas: its owner's disk quota is used up (Disk quota exceeded)"
    )
