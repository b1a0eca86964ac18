"""Which importers are measured: the working tree, or git revisions exported whole (several side by side)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.archive import BenchError
from bench.contenders import PROJECT, Pxeimport
from bench.results import PXE

# What the measured command is made of.
IMPORTER_PATHS = ("pxeimport", "settings", "web", "manage.py")


def git(*args: str) -> str:
    """git's answer about the project, "" when it has none (or git is missing)."""
    try:
        done = subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def export(sha: str, target: Path) -> Path:
    """The project as of `sha`, extracted from git archive into `target`."""
    target.mkdir(parents=True)
    tarball = target.with_suffix(".tar")
    try:
        subprocess.run(["git", "archive", "--output", str(tarball), sha], cwd=PROJECT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-f", str(tarball), "-C", str(target)], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"could not export {sha}: {exc.stderr.decode(errors='replace').strip()}") from exc
    tarball.unlink()
    return target


def working_tree(work: Path, keyring: Path) -> Pxeimport:
    dirty = git("status", "--porcelain", "--", *IMPORTER_PATHS)
    state = ", with uncommitted changes in the importer's files" if dirty else ""
    described = f"the working tree at commit {git('rev-parse', '--short=12', 'HEAD') or 'unknown'}{state}"
    return Pxeimport(PXE, PROJECT, described, work / "pxeimport.sqlite3", keyring)


def revision(rev: str, work: Path, keyring: Path, *, alone: bool) -> Pxeimport:
    """`rev` resolved once, before any run, and exported; labelled by the commit its importer comes from."""
    sha = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not sha:
        raise BenchError(f"--importer-rev {rev}: not a commit of {PROJECT}")
    origin = git("log", "-1", "--format=%h", sha, "--", *IMPORTER_PATHS)
    subject = git("log", "-1", "--format=%s", origin)
    subject = subject if len(subject) <= 80 else subject[:77] + "..."
    described = f"commit {sha[:12]} (`--importer-rev {rev}`); its importer's files last changed in {origin} ({subject})"
    label = PXE if alone else f"{PXE} {origin[:7]}"
    checkout = export(sha, work / f"importer-{sha[:12]}")
    return Pxeimport(label, checkout, described, work / f"pxeimport-{sha[:12]}.sqlite3", keyring)


def importers(revs: list[str], work: Path, keyring: Path) -> list[Pxeimport]:
    """The working tree's importer, or one per revision (duplicates dropped), in the order given."""
    if not revs:
        return [working_tree(work, keyring)]
    unique = list(dict.fromkeys(revs))
    chosen = [revision(rev, work, keyring, alone=len(unique) == 1) for rev in unique]
    labels = [pxe.label for pxe in chosen]
    if len(set(labels)) != len(labels):
        raise BenchError(f"--importer-rev names the same importer twice: {', '.join(unique)}")
    return chosen
