"""The README's main job, `make demo`: two imports from a generated archive of Debian's real netboot files, the
second a no-op, whatever warnings the runs print before their summary (found by a newcomer's walk: the
MokManager warning came first and the demo called its own no-op a failure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.requirements import require_tool
from tools.demo import ImportRun, check_noop
from tools.httpserver import Request

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_import_is_a_no_op_even_when_warnings_come_before_its_summary():
    output = (
        "Warning: amd64 loaders: no MokManager (mmx64.efi) beside bootnetx64.efi: ...\n"
        "0 installed, 4 unchanged, 0 skipped, 0 failed; 0.0 MB downloaded in 0.5 s.\n"
    )
    assert check_noop(ImportRun(0, output, 0.5, [Request("/dists/bookworm/InRelease", 200, 100)]))
    assert not check_noop(ImportRun(0, output.replace("0 installed", "10 installed"), 0.5, []))


@pytest.mark.slow
def test_make_demo_imports_debians_netboot_files_and_confirms_the_second_run_is_a_no_op(tmp_path):
    require_tool("apt-get")
    require_tool("dpkg-deb")
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    run = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--tftproot", str(tmp_path / "tftpboot")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no-op confirmed" in run.stdout, run.stdout
    assert (tmp_path / "tftpboot/maas/amd64/base/pxelinux.0").exists()
