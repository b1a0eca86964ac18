"""What to import: the saved boot sources and selections, overridden by command options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pxeimport.items import DEFAULT_LAYOUT, Selection, Source, parse_arch_urls
from pxeimport.layouts import (
    LayoutError,
    ReleaseDataError,
    arch_problem,
    get_layout,
    layout_trait,
    newest_release,
    release_problem,
    stable_release,
)
from pxeimport.lib import check_name
from pxeimport.models import BootSource
from pxeimport.trust import DEFAULT_KEYRINGS

# The 2012 script's default architectures.
DEFAULT_ARCHES = ("amd64", "i386")


@dataclass(frozen=True)
class Overrides:
    archive: str | None = None
    layout: str = DEFAULT_LAYOUT
    arches: Sequence[str] = ()
    releases: Sequence[str] = ()
    current_release: str | None = None
    keyrings: Sequence[Path] = ()
    # The package archive's dists/ URL that loaders come from (layouts that take them from packages).
    loader_archive: str | None = None
    # Only these (arch, release) pairs of arches x releases (a rack mirroring its region's index); None: all.
    pairs: frozenset[tuple[str, str]] | None = None
    # Only this saved boot source, by name, enabled or not; None: every enabled one.
    source: str | None = None
    # The ISO to take from a checksum list (--iso-sha256), replacing saved sources' pins.
    iso_sha256: str | None = None


class NothingSelected(Exception):
    """No enabled boot source and no --archive."""


def resolve(overrides: Overrides) -> list[Selection]:
    """Selections from the options, else from the enabled sources, with the old script's defaults.

    ReleaseDataError (from distro-info) and InvalidName propagate: both are configuration errors.
    """
    for arch in overrides.arches:
        check_name("architecture", arch)
        if (problem := arch_problem(arch)) is not None:
            raise LayoutError(f"--arch {arch}: {problem}")
    for release in (*overrides.releases, *filter(None, [overrides.current_release])):
        # The layout's word first: it may say more than that the name is not one ("write tumbleweed in lower case").
        if overrides.archive and (said := layout_trait(overrides.layout, "release_problem", lambda _: "")(release)):
            raise LayoutError(f"--release {release}: {said}")
        check_name("release", release)
        if overrides.pairs is None and (problem := release_problem(release)) is not None:
            raise LayoutError(f"--release {release}: {problem}")

    if overrides.archive:
        return [_selection(command_line_source(overrides), "ubuntu", (), (), "", overrides)]

    if overrides.source is not None:
        sources = BootSource.objects.filter(name=overrides.source).prefetch_related("arches", "releases")
        if not sources:
            names = ", ".join(BootSource.objects.values_list("name", flat=True)) or "none"
            raise NothingSelected(f"--source {overrides.source}: no boot source has that name (they are: {names})")
    else:
        sources = BootSource.objects.filter(enabled=True).prefetch_related("arches", "releases")
    selections = [
        _selection(
            _source(s, overrides),
            s.distribution,
            [a.name for a in s.arches.all()],
            [r.name for r in s.releases.all()],
            s.current_release,
            overrides,
            # Per release: the source's options, then the release's own.
            {r.name: " ".join(filter(None, [s.kernel_opts, r.kernel_opts])) for r in s.releases.all()},
            default_opts=s.kernel_opts,
        )
        for s in sources
    ]
    if not selections:
        raise NothingSelected("no enabled boot source: add one in the admin, or pass --archive URL")
    return selections


def command_line_source(overrides: Overrides) -> Source:
    """The source `--archive` names (overrides.archive must be set), with --keyring or the default keyrings."""
    assert overrides.archive
    # Either distribution's archive key may sign an archive named on the command line.
    defaults = [k for k in DEFAULT_KEYRINGS.values() if k.path.is_file()] or list(DEFAULT_KEYRINGS.values())
    keyrings = tuple(overrides.keyrings) or tuple(k.path for k in defaults)
    hint = "; ".join(k.hint for k in DEFAULT_KEYRINGS.values()) + "; or pass --keyring"
    return Source(
        name="command-line",
        url=overrides.archive,
        keyrings=keyrings,
        keyring_hint=hint,
        layout=overrides.layout,
        loader_archive=overrides.loader_archive,
        feeds_loaders=layout_trait(overrides.layout, "has_loaders", True),
        iso_sha256=(overrides.iso_sha256 or "").lower(),
    )


def _source(model: BootSource, overrides: Overrides) -> Source:
    pinned = "--iso-sha256" in layout_trait(model.layout, "reads_options", ())
    own = layout_trait(model.layout, "own_keyring", "")
    default = None if own else DEFAULT_KEYRINGS.get(model.distribution)
    if overrides.keyrings:
        keyrings, hint = tuple(overrides.keyrings), "given by --keyring"
    elif model.keyring:
        keyrings, hint = (Path(model.keyring),), f"set in boot source {model.name!r}"
    elif default is not None:
        keyrings, hint = (default.path,), default.hint
    else:
        keyrings, hint = (), f"set a keyring in boot source {model.name!r}" + (f": {own}" if own else "")
    return Source(
        name=model.name,
        url=model.url,
        installer_dir=model.installer_dir or None,
        key=model.pk,
        keyrings=keyrings,
        keyring_hint=hint,
        verify_signatures=not model.skip_signature_checks,
        layout=model.layout,
        iso_base_url=model.iso_base_url or None,
        proxy=model.proxy or None,
        allow_expired_indexes=model.allow_expired_indexes,
        arch_urls=parse_arch_urls(model.arch_urls),
        loader_archive=overrides.loader_archive or model.loader_archive or None,
        feeds_loaders=model.feeds_loaders and layout_trait(model.layout, "has_loaders", True),
        # A pin binds only the layouts that read one (a hidden field's stale value, a --iso-sha256 meant for another).
        iso_sha256=(overrides.iso_sha256 or model.iso_sha256).lower() if pinned else "",
        package_repo=model.package_repo or None,
    )


def _selection(
    source: Source,
    distribution: str,
    arches: Sequence[str],
    releases: Sequence[str],
    current_release: str,
    overrides: Overrides,
    kernel_opts: dict[str, str] | None = None,
    default_opts: str = "",
) -> Selection:
    chosen_arches = tuple(overrides.arches or arches or DEFAULT_ARCHES)
    chosen_releases = tuple(
        overrides.releases
        if overrides.pairs is not None
        else overrides.releases or releases or _default_releases(source, distribution)
    )
    # The loaders come from the newest selected release unless the source or --current-release names one
    # (a source selecting only bookworm must not take its loaders from distro-info's stable, trixie).
    current = overrides.current_release or current_release or _newest(chosen_releases, distribution)
    opts = {r: (kernel_opts or {}).get(r, default_opts) for r in chosen_releases}
    return Selection(
        source=source,
        arches=chosen_arches,
        releases=chosen_releases,
        current_release=current,
        kernel_opts={r: o for r, o in opts.items() if o},
        pairs=overrides.pairs,
    )


def _newest(releases: Sequence[str], distribution: str) -> str:
    return newest_release(releases, distribution) if releases else stable_release(distribution)


def _default_releases(source: Source, distribution: str) -> list[str]:
    """The layout's default: distro-info's supported releases that the layout publishes."""
    return get_layout(source.layout).default_releases(distribution)


def claimed_elsewhere(
    pk: int | None,
    arches: Sequence[str],
    releases: Sequence[str],
    layout: str,
    distribution: str,
    feeds_loaders: bool = True,
) -> list[str]:
    """What an enabled boot source (`pk`, None for a new one) selecting `arches` x `releases` (none: the
    defaults a run takes) would claim that another enabled source already feeds: one line per
    (arch, release), naming that source. Two sources cannot feed one place in the TFTP root."""
    mine_arches = set(arches or DEFAULT_ARCHES)
    try:
        mine_releases = set(releases or get_layout(layout).default_releases(distribution))
        others = [s for s in resolve(Overrides()) if s.source.key != pk]
    except (NothingSelected, ReleaseDataError):
        return []
    lines = []
    for other in others:
        for arch in sorted(mine_arches & set(other.arches)):
            if feeds_loaders and layout_trait(layout, "has_loaders", True) and other.source.feeds_loaders:
                lines.append(
                    f"{arch}'s pre-boot loaders are already fed by the enabled boot source {other.source.name!r}: "
                    "untick “feeds the pre-boot loaders” here or there"
                )
            for release in sorted(mine_releases & set(other.releases)):
                lines.append(
                    f"{arch}/{release} is already selected by the enabled boot source {other.source.name!r}: "
                    "one place in the TFTP root is fed by one source; deselect it there or here, or disable one"
                )
    return lines
