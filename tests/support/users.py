"""Commands run as another user, or as root without its power over file permissions (setpriv, util-linux)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.requirements import require_tool
from tests.support.subprocess_db import PROJECT

NOBODY = 65534
# An unprivileged user (nobody, group nogroup). CAP_DAC_READ_SEARCH only lets it read this checkout's
# interpreter, which lives below a root-only directory; it grants no writing, no chmod and no
# linking of another user's files (fs.protected_hardlinks asks for read *and* write access).
AS_NOBODY = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
AS_NOBODY += ["--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search"]
# Root that file permissions bind as they bind any user (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of
# its bounding set): a file another user owns with mode 0600 is as unreadable to it as to a service user.
AS_ROOT_BOUND = ["--bounding-set=-dac_override,-dac_read_search"]


def as_nobody(*command: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`command` as nobody in the checkout, with `home` as HOME and a database of its own there."""
    setpriv = require_tool("setpriv")
    env = {**os.environ, "HOME": str(home), "DATABASE_URL": f"sqlite:///{home}/db.sqlite3"}
    env["DJANGO_SETTINGS_MODULE"] = "settings"
    return subprocess.run(
        [setpriv, *AS_NOBODY, *command], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )


def bound_by_permissions(*command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`command` in the checkout as root without the capabilities that override file permissions."""
    setpriv = require_tool("setpriv")
    return subprocess.run(
        [setpriv, *AS_ROOT_BOUND, *command], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
