"""The soak harness (tools/soak): each invariant fires on a root broken the way it guards against, and a short
run of nights (the CI's form of `make soak`) ends with none violated."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from tools.soak.invariants import INVARIANTS, Night, served_pairs
from tools.soak.run import soak
from tools.soak.world import World, close, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path: Path, settings):
    settings.PXEIMPORT_GRACE_SECONDS = 0
    settings.PXEIMPORT_HTTP_RETRIES = 0
    settings.PXEIMPORT_HTTP_BACKOFF = 0
    made = make_world(tmp_path)
    assert made.run().code == 0
    yield made
    close(made)


def night(world: World, **changed: Any) -> Night:
    """The night as the harness sees it after a clean import, with `changed` fields."""
    state = Night(
        world.root, served_pairs(world.root), world.selected(), world.offered, world.changes_since(0), world.claimed()
    )
    return dataclasses.replace(state, **changed)


def violated(state: Night) -> dict[str, list[str]]:
    return {name: found for name, check in INVARIANTS.items() if (found := check(state))}


def kernel(world: World) -> Path:
    return world.root.base_dir("amd64") / "orchid" / "install" / "linux"


def test_a_clean_import_violates_nothing(world):
    assert violated(night(world)) == {}
    assert served_pairs(world.root) == {("amd64", "orchid"), ("amd64", "quartz")}


def test_a_served_kernel_whose_bytes_changed_is_found(world):
    path = kernel(world).resolve()
    os.chmod(path, 0o644)
    path.write_bytes(b"not what the manifest says")

    assert list(violated(night(world))) == ["entries_name_verified_files"]


def test_an_entry_whose_initrd_is_of_another_version_is_found(world):
    menu = world.root.base_dir("amd64") / "pxelinux.cfg" / "default"
    version = os.readlink(world.root.base_dir("amd64") / "quartz" / "install")
    text = menu.read_text().replace(f"initrd=quartz/{version}/", "initrd=quartz/install-0123456789abcdef/")
    menu.write_text(text)

    found = violated(night(world))

    assert "one_version_per_entry" in found and "entries_name_verified_files" in found


def test_an_entry_without_the_selections_kernel_options_is_found(world):
    selected = {pair: "console=ttyS1" for pair in world.selected()}

    assert list(violated(night(world, selected=selected))) == ["kernel_options_on_every_entry"]


def test_an_arch_serving_grub_without_its_menu_is_found(world):
    (world.root.base_dir("amd64") / "grub" / "grub.cfg").unlink()

    assert list(violated(night(world))) == ["served_loader_has_entries"]


def test_a_selected_offered_release_gone_from_the_menus_is_found_and_not_said_in_a_run_row(world):
    before = served_pairs(world.root) | {("amd64", "saffron")}  # served before, selected, offered, gone now
    selected = world.selected() | {("amd64", "saffron"): ""}

    found = violated(night(world, served_before=before, selected=selected))

    assert list(found) == ["nothing_selected_and_offered_is_lost", "every_removal_is_in_a_run_row"]
    said = night(world, served_before=before, changes=["retired amd64 (saffron): not in the saved selection"])
    assert violated(said) == {}


def test_a_half_written_file_or_a_dangling_link_under_a_served_tree_is_found(world):
    version_dir = kernel(world).resolve().parent
    (version_dir / ".linux.new-1a2b3c4d").write_bytes(b"half")
    (world.root.base_dir("amd64") / "dangling").symlink_to("nowhere")

    found = violated(night(world))

    assert list(found) == ["no_partial_file_is_served"] and len(found["no_partial_file_is_served"]) == 2


def test_a_status_row_claiming_another_version_than_the_root_serves_is_found(world):
    claimed = world.claimed() | {("amd64", "orchid"): "0123456789abcdef"}

    assert list(violated(night(world, claimed=claimed))) == ["status_rows_agree_with_the_disk"]


def test_thirty_nights_of_random_change_violate_nothing(tmp_path, settings):
    settings.PXEIMPORT_GRACE_SECONDS = 0
    settings.PXEIMPORT_HTTP_RETRIES = 0
    settings.PXEIMPORT_HTTP_BACKOFF = 0

    report = soak(tmp_path, nights=30, seed=1)

    assert report.violation == "", report.violation
    assert report.nights == 30 and sum(report.checks.values()) == 31 * len(INVARIANTS)
    assert len(report.events) >= 8  # most kinds happened at least once
