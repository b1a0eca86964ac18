"""A saved selection on the loopback archive, and import_pxe_files run against a TFTP root as cron runs it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.models import BootSource, SelectedArch, SelectedRelease
from tests.support.commands import CommandResult


def saved_source(
    url: str,
    keyring: Path,
    *,
    arches: tuple[str, ...] = ("amd64",),
    releases: dict[str, str] | tuple[str, ...] = ("bookworm", "trixie"),
    current_release: str = "bookworm",
) -> BootSource:
    """The only boot source, "mirror" at `url` (its dists/ URL), selecting `arches` and `releases` (a dict: with
    each release's kernel options)."""
    BootSource.objects.all().delete()
    saved = BootSource.objects.create(name="mirror", url=url, keyring=str(keyring), current_release=current_release)
    for arch in arches:
        saved.arches.create(name=arch)
    options = releases if isinstance(releases, dict) else dict.fromkeys(releases, "")
    for release, kernel_opts in options.items():
        saved.releases.create(name=release, kernel_opts=kernel_opts)
    return saved


def import_files(tftp_root: Path, *args: str) -> CommandResult:
    """import_pxe_files into `tftp_root` with `args`; its exit status and what it said on each stream."""
    out, err = StringIO(), StringIO()
    try:
        call_command("import_pxe_files", "--tftproot", str(tftp_root), *args, stdout=out, stderr=err)
        return CommandResult(0, out.getvalue(), err.getvalue())
    except CommandError as exc:
        return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))


def iso_source(name: str, layout: str, url: str, release: str, keyring: Path, **fields: str) -> None:
    """An enabled boot source `name` of `layout` selecting amd64 and `release`, with a serial console."""
    source = BootSource.objects.create(
        name=name, url=url, layout=layout, distribution="other", keyring=str(keyring), current_release=release,
        kernel_opts="console=ttyS0,115200", **fields,
    )  # fmt: skip
    SelectedArch.objects.create(source=source, name="amd64")
    SelectedRelease.objects.create(source=source, name=release)
