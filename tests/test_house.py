"""The shape of the code, checked: layouts are plugins the importer never names, plain modules stay Django-free,
no module grows past what one reader holds in mind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pxeimport.items.words import DEFAULT_LAYOUT
from pxeimport.layouts import LayoutError, get_layout, layout_choices, layout_names
from pxeimport.layouts.base import Layout
from pxeimport.management.commands.import_pxe_files import Command
from pxeimport.models import BootSource

PACKAGE = Path(__file__).resolve().parent.parent / "pxeimport"
# Modules that are Django's by nature: models, the admin, and the glue between the database or settings and
# the plain code (the region/rack side: Celery tasks that record reports, the Racks page, /metrics).
DJANGO_SIDE = {
    "runs",
    "racks",
    "admin",
    "models.py",
    "admin.py",
    "apps.py",
    "selection.py",
    "records.py",
    "context.py",
    "publishing.py",
    "racks.py",
    "racksync.py",
    "rackstatus.py",
    "rackadmin.py",
    "metrics.py",
    "validators.py",
}
MAX_LINES = 420


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_the_importer_names_no_archive_layout_module():
    named = {n for n in imported(PACKAGE / "importer" / "run.py") if n.startswith("pxeimport.layouts.")}
    layout_modules = {f"pxeimport.layouts.{p.stem}" for p in (PACKAGE / "layouts").glob("*.py")} - {
        "pxeimport.layouts.__init__",
        "pxeimport.layouts.releases",
    }
    assert not {n for n in named if any(n == m or n.startswith(m + ".") for m in layout_modules)}, named


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in modules()
        if p.name not in DJANGO_SIDE and not DJANGO_SIDE & set(p.parts) and "management" not in p.parts
    ],
)
def test_a_plain_module_imports_no_django(path: Path):
    assert not {n for n in imported(path) if n == "django" or n.startswith("django.")}, path


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_one_reader_holds_in_mind(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_every_layout_is_offered_by_the_admin_and_the_command_under_one_name():
    names = layout_names()
    assert DEFAULT_LAYOUT in names
    assert [value for value, _ in BootSource._meta.get_field("layout").choices] == names  # type: ignore[union-attr]
    parser = Command().create_parser("manage.py", "import_pxe_files")
    [layout] = [a for a in parser._actions if a.dest == "layout"]
    assert list(layout.choices or []) == names
    assert all(issubclass(get_layout(n), Layout) and get_layout(n).name == n for n in names)
    assert dict(layout_choices()).keys() == set(names)


def test_an_unknown_layout_names_the_known_ones():
    with pytest.raises(LayoutError, match=r"unknown archive layout 'nosuch' \(known: debian-installer"):
        get_layout("nosuch")
