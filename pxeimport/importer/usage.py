"""Option combinations refused before any request: what each layout needs and what it reads.

A run whose options cannot work (a layout without the option it has no default for) or that
gives an option nothing will read (a `--loader-archive` for a layout that takes no loaders from a
package archive, `--layout` without `--archive`) is a usage error, exit 2, naming the option, as
argparse's own are: an operator who typed it believes it does something, and a run that silently
drops it would import something else than they meant. The layouts say what they need and read
(`Layout.needs_options`, `Layout.reads_options`); this module names no layout. No Django here.
"""

from __future__ import annotations

from collections.abc import Collection

from pxeimport.items import DEFAULT_LAYOUT
from pxeimport.layouts import get_layout, layout_names

# Options only some layouts read (the others, --arch, --release, --keyring, ..., every layout reads).
LAYOUT_SPECIFIC = ("--loader-archive", "--iso-sha256")

# What to give, for the message naming a missing option.
WHAT_TO_GIVE = {
    "--loader-archive": "the signed package archive's dists/ URL the pre-boot loaders come from, "
    "e.g. http://archive.ubuntu.com/ubuntu/dists/",
    "--arch": "each architecture to import, as the archive lists it (repeat the option)",
    "--release": "each release to import, as the archive lists it (repeat the option)",
}


def readers(option: str) -> list[str]:
    """The layouts that read `option`."""
    return [name for name in layout_names() if option in get_layout(name).reads_options]


def usage_problems(
    archive: str | None, layout: str | None, given: Collection[str], saved_layouts: Collection[str] = ()
) -> list[str]:
    """What is wrong with these options together, one sentence each naming the option; [] when nothing is.

    `archive`, `layout`: the --archive and --layout given (None: not given). `given`: the other
    options given, by their command-line names ("--loader-archive", "--arch", ...). `saved_layouts`:
    the layouts of the enabled boot sources, which a run without --archive imports from.
    LayoutError for an unknown layout.
    """
    problems = []
    if not archive:
        if layout is not None:
            problems.append(
                f"--layout {layout} goes with --archive only: each saved boot source has its own layout "
                "(set it in the admin), or give --archive URL to import from another archive"
            )
        for option in LAYOUT_SPECIFIC:
            if option in given and not any(option in get_layout(name).reads_options for name in saved_layouts):
                problems.append(
                    f"{option} is read by the {', '.join(readers(option))} layout only, and no enabled boot source "
                    f"has it (theirs: {', '.join(sorted(set(saved_layouts))) or 'none'}); with --archive, give "
                    f"--layout too"
                )
        return problems
    chosen = get_layout(layout or DEFAULT_LAYOUT)
    for option in chosen.needs_options:
        if option not in given:
            problems.append(f"--layout {chosen.name} needs {option}: {WHAT_TO_GIVE.get(option, 'give it')}")
    for option in LAYOUT_SPECIFIC:
        if option in given and option not in chosen.reads_options:
            problems.append(
                f"{option} is not read by the {chosen.name} layout (only by {', '.join(readers(option))}): "
                f"leave it out, or give the layout that reads it with --layout"
            )
    return problems
