"""kill -9 at random moments, 50 times: nodes always boot a complete, verified set; the next run recovers.

The trials themselves (and what each checks) are tools/kill_trials.py, which also runs as a script
for many more: `.venv/bin/python -m tools.kill_trials 1000`.
"""

from __future__ import annotations

import pytest

from pxeimport.models import ImportRun, RunStatus
from tests.support.faulty import publish_both, run_import
from tools.database import database_url
from tools.httpserver import ArchiveServer
from tools.kill_trials import KillTrials

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRIALS = 50


def test_imports_killed_at_random_moments_never_break_what_nodes_boot(archive, tftp_root, signer, tmp_path):
    with ArchiveServer(archive.root) as server:
        trials = KillTrials(
            archive, server, tftp_root, signer.keyring, database_url(), seed=20121, log=tmp_path / "imports.log"
        )
        figures = trials.run(TRIALS)

    print(figures.summary(), *figures.failures, *figures.leftovers, sep="\n")
    assert figures.failures == [], f"{figures.summary()}; see {tmp_path / 'imports.log'}"
    assert figures.trials == TRIALS
    assert figures.killed_mid_run >= TRIALS * 0.8, "the kills should land while the imports run"
    # Many kills leave a run row "running" for the next run to mark abandoned (the others land
    # before the row exists: taking the lock, or after it is finished: cleaning up). About half
    # do on SQLite, a third on PostgreSQL (its writes are quicker): a tenth proves the point.
    assert figures.abandoned >= TRIALS * 0.1
    assert figures.leftovers == set(), "a killed run left files no later run removed"
    assert ImportRun.objects.filter(status=RunStatus.ABANDONED).count() == figures.abandoned
    assert not ImportRun.objects.filter(status=RunStatus.RUNNING).exists()


def test_a_menu_write_cut_short_by_a_kill_leaves_nothing_after_the_next_run(archive, tftp_root, signer):
    publish_both(archive, "v1", uefi=True)  # GRUB served: both menus written
    with ArchiveServer(archive.root) as server:
        assert run_import(server.url, tftp_root, signer.keyring).code == 0
        base = tftp_root / "maas" / "amd64" / "base"
        debris = [base / "pxelinux.cfg" / ".default.new-0badf00d", base / "grub" / ".grub.cfg.new-0badf00d"]
        for path in debris:
            path.write_text("half a menu")  # what a kill between write and rename leaves
        publish_both(archive, "v2", uefi=True)

        assert run_import(server.url, tftp_root, signer.keyring).code == 0

    assert [path for path in debris if path.exists()] == []
