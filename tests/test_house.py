"""The shape of the code, checked by folder: each package's face declares what it may import and the imports keep
to it; plain packages import no Django; outside a package, code imports its face, never its inner modules;
layouts are plugins the importer never names; no module grows past what one reader holds in mind.

The boundary is declared where a reader looks for it, in each package's `__init__` docstring ("Imports: …",
"Django: never"), as MAAS's utilities/check-imports declares its rack side by folder.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from pxeimport.importer import plan
from pxeimport.items import DEFAULT_LAYOUT
from pxeimport.layouts import Layout, LayoutError, get_layout, layout_choices, layout_names
from pxeimport.management.commands.import_pxe_files import Command
from pxeimport.models import BootSource

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE = PROJECT / "pxeimport"
# Code outside the packages that must use their faces too: the web shell, settings, the tools and benchmarks.
OUTSIDE = [PROJECT / "web", PROJECT / "settings", PROJECT / "tools", PROJECT / "bench", PROJECT / "manage.py"]
PACKAGES = sorted(
    p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name not in {"management", "migrations"}
)
MAX_LINES = 420


def face_doc(package: str) -> str:
    return ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""


def is_plain(package: str) -> bool:
    return "Django: never" in face_doc(package)


PLAIN = [p for p in PACKAGES if is_plain(p)]


def declared_imports(package: str) -> set[str]:
    """The packages its face says it may import ("Imports: …" up to the sentence's end), lib always."""
    found = re.search(r"Imports:(.*?)\.(\s|$)", face_doc(package), re.DOTALL)
    assert found, f"pxeimport/{package}/__init__.py does not say what it may import ('Imports: …')"
    words = set(re.findall(r"[a-z]+", found.group(1)))
    allowed = {p for p in PACKAGES if p in words} | {"lib"}
    if "every plain package" in " ".join(found.group(1).split()):
        allowed |= set(PLAIN)
    if "Django" in found.group(1):
        allowed |= {"django", "models", "validators"}
    return allowed - {package}


def modules(root: Path) -> list[Path]:
    paths = [root] if root.is_file() else root.rglob("*.py")
    return sorted(p for p in paths if "migrations" not in p.parts)


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Every import in `path`, at any depth (TYPE_CHECKING and function bodies too): (module, names)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, tuple(a.name for a in node.names)))
    return found


def package_of(path: Path) -> str | None:
    parts = path.relative_to(PROJECT).parts
    return parts[1] if parts[0] == "pxeimport" and len(parts) > 2 and parts[1] in PACKAGES else None


def what_it_uses(module: str) -> str | None:
    """The package (or django, models, validators) an imported module belongs to; None for anything else."""
    parts = module.split(".")
    if parts[0] == "django":
        return "django"
    if parts[0] == "pxeimport" and len(parts) > 1:
        return parts[1]
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_its_face_declares(package: str):
    allowed = declared_imports(package)
    strays = {
        (str(path.relative_to(PROJECT)), module)
        for path in modules(PACKAGE / package)
        for module, _ in imports(path)
        if (used := what_it_uses(module)) not in (None, package) and used not in allowed
    }
    assert not strays, f"pxeimport/{package} may import {sorted(allowed)} (its __init__ says so), not: {sorted(strays)}"


@pytest.mark.parametrize("package", PLAIN)
def test_a_plain_package_imports_no_django(package: str):
    assert "django" not in declared_imports(package)
    used = {m for path in modules(PACKAGE / package) for m, _ in imports(path) if what_it_uses(m) == "django"}
    assert not used, f"pxeimport/{package} is plain (its face says 'Django: never') but imports {used}"


def test_the_plain_packages_are_the_ones_the_architecture_names():
    assert set(PLAIN) == {
        "lib",
        "items",
        "fetching",
        "trust",
        "extraction",
        "tftproot",
        "dhcp",
        "secureboot",
        "menus",
        "publication",
        "layouts",
        "importer",
    }
    assert set(PACKAGES) - set(PLAIN) == {"models", "runs", "racks", "admin"}


def test_the_plain_packages_import_each_other_without_a_cycle():
    graph = {p: declared_imports(p) & set(PLAIN) for p in PLAIN}
    done: list[str] = []
    while graph:
        ready = sorted(p for p, needs in graph.items() if needs <= set(done))
        assert ready, f"a cycle among {sorted(graph)}"
        done += ready
        for p in ready:
            del graph[p]


def inner_module_of(module: str) -> str | None:
    """The package whose inner module `module` is (pxeimport.<package>.<module>), None for a face or other code."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "pxeimport" and parts[1] in PACKAGES else None


@pytest.mark.parametrize(
    "path",
    [p for root in [PACKAGE, *OUTSIDE] for p in modules(root)],
    ids=lambda p: str(p.relative_to(PROJECT)),
)
def test_outside_a_package_code_imports_its_face_never_an_inner_module(path: Path):
    own = package_of(path)
    inner = [module for module, _ in imports(path) if inner_module_of(module) not in (None, own)]
    assert not inner, f"{path.relative_to(PROJECT)} imports {inner}: import the package instead"


@pytest.mark.parametrize("package", PACKAGES)
def test_a_face_exports_what_it_imports_and_nothing_it_lacks(package: str):
    face = importlib.import_module(f"pxeimport.{package}")
    exported = set(face.__all__)
    assert all(hasattr(face, name) for name in exported), sorted(n for n in exported if not hasattr(face, n))
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
    own = {
        a.asname or a.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"pxeimport.{package}")
        for a in node.names
    }
    registering = {"history", "racks", "sources"} if package == "admin" else set()  # imported to register their pages
    assert own - registering <= exported, sorted(own - registering - exported)


def test_the_importer_names_no_layout_module():
    named = {
        m for path in modules(PACKAGE / "importer") for m, _ in imports(path) if m.startswith("pxeimport.layouts.")
    }
    assert not named, named


@pytest.mark.parametrize("path", modules(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_one_reader_holds_in_mind(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_plan_is_the_importers_and_the_items_are_only_words():
    assert plan.__module__ == "pxeimport.importer.plan"
    assert declared_imports("items") == {"lib"}


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


@pytest.mark.parametrize(
    "path", sorted((PROJECT / "tests").rglob("*.py")), ids=lambda p: str(p.relative_to(PROJECT / "tests"))
)
def test_no_test_imports_another_test_or_the_conftest_its_helpers_live_in_tests_support(path: Path):
    strays = [
        module
        for module, _ in imports(path)
        if module == "tests.conftest" or (module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_"))
    ]
    assert not strays, f"import these from tests/support/ instead: {strays}"
