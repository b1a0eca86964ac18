"""What to import: the saved boot sources and selections, overridden by command options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pxeimport.importer import Selection, Source
from pxeimport.models import BootSource
from pxeimport.names import check_name
from pxeimport.releases import stable_release, supported_releases

# The 2012 script's default architectures.
DEFAULT_ARCHES = ("amd64", "i386")


@dataclass(frozen=True)
class Overrides:
    archive: str | None = None
    arches: Sequence[str] = ()
    releases: Sequence[str] = ()
    current_release: str | None = None


class NothingSelected(Exception):
    """No enabled boot source and no --archive."""


def resolve(overrides: Overrides) -> list[Selection]:
    """Selections from the options, else from the enabled sources, with the old script's defaults.

    ReleaseDataError (from distro-info) and InvalidName propagate: both are configuration errors.
    """
    for arch in overrides.arches:
        check_name("architecture", arch)
    for release in (*overrides.releases, *filter(None, [overrides.current_release])):
        check_name("release", release)

    if overrides.archive:
        source = Source(name="command-line", url=overrides.archive)
        return [_selection(source, "ubuntu", (), (), "", overrides)]

    sources = BootSource.objects.filter(enabled=True).prefetch_related("arches", "releases")
    selections = [
        _selection(
            Source(name=s.name, url=s.url, installer_dir=s.installer_dir or None, key=s.pk),
            s.distribution,
            [a.name for a in s.arches.all()],
            [r.name for r in s.releases.all()],
            s.current_release,
            overrides,
        )
        for s in sources
    ]
    if not selections:
        raise NothingSelected("no enabled boot source: add one in the admin, or pass --archive URL")
    return selections


def _selection(
    source: Source,
    distribution: str,
    arches: Sequence[str],
    releases: Sequence[str],
    current_release: str,
    overrides: Overrides,
) -> Selection:
    chosen_arches = tuple(overrides.arches or arches or DEFAULT_ARCHES)
    chosen_releases = tuple(overrides.releases or releases or supported_releases(distribution))
    current = overrides.current_release or current_release or stable_release(distribution)
    return Selection(source=source, arches=chosen_arches, releases=chosen_releases, current_release=current)
