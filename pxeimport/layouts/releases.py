"""Which releases exist and are supported, from distro-info's data (Debian's distro-info-data)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import distro_info

DISTRIBUTIONS = ("ubuntu", "debian")
DATA_PACKAGE = "distro-info-data"

T = TypeVar("T")


class ReleaseDataError(Exception):
    """distro-info's data is missing, unreadable or too old to answer."""


@dataclass(frozen=True)
class Release:
    codename: str
    version: str
    name: str
    supported: bool

    @property
    def label(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.codename} ({self.name}{version})"


def _info(distribution: str) -> distro_info.DistroInfo:
    classes = {"ubuntu": distro_info.UbuntuDistroInfo, "debian": distro_info.DebianDistroInfo}
    if distribution not in classes:
        raise ReleaseDataError(f"distro-info knows no distribution {distribution!r}; name the releases explicitly")
    try:
        return classes[distribution]()
    except FileNotFoundError as exc:
        raise ReleaseDataError(
            f"distro-info data for {distribution} is missing ({exc.filename}); "
            f"install the {DATA_PACKAGE} package, or name the releases explicitly"
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ReleaseDataError(f"distro-info data for {distribution} is unreadable: {exc!r}") from exc


def _ask(distribution: str, question: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except distro_info.DistroDataOutdated as exc:
        raise ReleaseDataError(
            f"distro-info data for {distribution} is outdated, so it cannot tell the {question}; "
            f"upgrade the {DATA_PACKAGE} package, or name the releases explicitly"
        ) from exc


def supported_releases(
    distribution: str, today: datetime.date | None = None, min_version: tuple[int, int] | None = None
) -> list[str]:
    """Codenames supported on `today`, oldest first; ReleaseDataError when there are none.

    With `min_version` (year, month for Ubuntu), only releases of that version or newer.
    """
    info = _info(distribution)
    # Debian's testing has no end-of-life date, so it looks supported forever; a stable release
    # that distro-info can still name is what shows the data is current.
    _ask(distribution, "supported releases", lambda: info.stable(today))
    releases = _ask(distribution, "supported releases", lambda: info.supported(today))
    if not releases:
        raise ReleaseDataError(
            f"distro-info data for {distribution} lists no supported release; it is probably outdated: "
            f"upgrade the {DATA_PACKAGE} package, or name the releases explicitly"
        )
    # Debian's "sid" and "experimental" have no installer images in dists/.
    releases = [r for r in releases if r not in ("sid", "experimental")]
    if min_version is not None:
        versions = {r.series: _version_tuple(r.version) for r in info.get_all(result="object")}
        releases = [r for r in releases if versions.get(r, (0,)) >= min_version]
    return releases


def _version_tuple(version: str | None) -> tuple[int, ...]:
    """ "24.04 LTS" -> (24, 4); unparsable -> (0,)."""
    try:
        return tuple(int(part) for part in (version or "").split()[0].split("."))
    except (ValueError, IndexError):
        return (0,)


def stable_release(distribution: str, today: datetime.date | None = None) -> str:
    info = _info(distribution)
    return str(_ask(distribution, "stable release", lambda: info.stable(today)))


def known_releases(distribution: str, today: datetime.date | None = None) -> list[Release]:
    """Every release distro-info knows for `distribution`, newest first, marked supported or not."""
    info = _info(distribution)
    supported = set(supported_releases(distribution, today)) if distribution in DISTRIBUTIONS else set()
    rows = info.get_all(result="object")
    return [
        Release(
            codename=r.series,
            version=(r.version or "").replace(" LTS", ""),
            name=r.codename,
            supported=r.series in supported,
        )
        for r in reversed(rows)
    ]


def newest_release(releases: Sequence[str], distribution: str) -> str:
    """The newest of `releases` (not empty) in distro-info's order for `distribution`; names it does not
    know (a private or newer release) count as newer than those it knows, the last one given first."""
    try:
        order = [r.codename for r in known_releases(distribution)] if distribution in DISTRIBUTIONS else []
    except ReleaseDataError:
        order = []  # newest first
    unknown = [r for r in releases if r not in order]
    if unknown:
        return unknown[-1]
    return min(releases, key=order.index)
