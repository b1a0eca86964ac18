"""The soak harness (tools/soak): each invariant fires on a root broken the way it guards against, and a short
run of nights (the CI's form of `make soak`) ends with none violated."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tools.soak.invariants import INVARIANTS, Night, served_pairs
from tools.soak.run import soak
from tools.soak.world import World

pytestmark = pytest.mark.django_db


def night(world: World, **changed: Any) -> Night:
    """The night as the harness sees it after a clean import, with `changed` fields."""
    state = Night(
        world.root, served_pairs(world.root), world.selected(), world.offered, world.changes_since(0), world.claimed(),
        upstream=world.upstream_sha256(),
    )  # fmt: skip
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

    assert list(violated(night(world))) == [
        "entries_name_verified_files",
        "selected_and_offered_is_served_as_published",
    ]


def test_an_entry_whose_initrd_is_of_another_version_is_found(world):
    menu = world.root.base_dir("amd64") / "pxelinux.cfg" / "default"
    version = os.readlink(world.root.base_dir("amd64") / "quartz" / "install")
    text = menu.read_text().replace(f"initrd=quartz/{version}/", "initrd=quartz/install-0123456789abcdef/")
    menu.write_text(text)

    found = violated(night(world))

    assert "one_version_per_entry" in found and "entries_name_verified_files" in found


def test_an_entry_without_the_selections_kernel_options_or_with_options_left_over_is_found(world):
    selected = {pair: "console=ttyS1" for pair in world.selected()}
    assert list(violated(night(world, selected=selected))) == ["kernel_options_on_every_entry"]

    source = world.source
    source.kernel_opts = "quiet"
    source.save()
    assert world.run().code == 0
    cleared = {pair: "" for pair in world.selected()}  # the operator cleared them; the menus still say quiet
    assert list(violated(night(world, selected=cleared))) == ["kernel_options_on_every_entry"]


def test_an_arch_serving_grub_without_its_menu_is_found(world):
    (world.root.base_dir("amd64") / "grub" / "grub.cfg").unlink()

    assert list(violated(night(world))) == ["served_loader_has_entries"]


def test_a_selected_offered_release_gone_from_the_menus_is_found_and_not_said_in_a_run_row(world):
    before = served_pairs(world.root) | {("amd64", "saffron")}  # served before, selected, offered, gone now
    selected = world.selected() | {("amd64", "saffron"): ""}

    found = violated(night(world, served_before=before, selected=selected))

    assert list(found) == [
        "selected_and_offered_is_served_as_published",
        "nothing_selected_and_offered_is_lost",
        "every_removal_is_in_a_run_row",
    ]
    said = night(world, served_before=before, changes=["retired amd64 (saffron): not in the saved selection"])
    assert violated(said) == {}
    mentioned = night(world, served_before=before, changes=["installed amd64/saffron: 1 file"])
    assert list(violated(mentioned)) == ["every_removal_is_in_a_run_row"]


def test_a_served_release_that_is_not_what_upstream_publishes_now_is_found(world):
    upstream = world.upstream_sha256()
    upstream[("amd64", "quartz")] = upstream[("amd64", "quartz")] | {"linux": "0" * 64}  # a point release missed

    found = violated(night(world, upstream=upstream))

    assert found == {
        "selected_and_offered_is_served_as_published": [
            "amd64/quartz: the linux pxelinux.cfg/default names is not what upstream publishes now",
            "amd64/quartz: the linux grub/grub.cfg names is not what upstream publishes now",
        ]
    }
    assert violated(night(world, upstream=upstream, reachable=False)) == {}  # a night the mirror was away


def test_a_loader_whose_bytes_changed_is_found(world):
    path = (world.root.base_dir("amd64") / "pxelinux.0").resolve()
    os.chmod(path, 0o644)
    path.write_bytes(b"a cut pxelinux.0")

    assert list(violated(night(world))) == ["served_loaders_are_verified"]


def test_menus_that_offer_a_bios_and_a_uefi_node_different_releases_are_found(world):
    grub = world.root.base_dir("amd64") / "grub" / "grub.cfg"
    text = grub.read_text()
    start = text.index("menuentry 'quartz")
    grub.write_text(text[:start] + text[text.index("}", start) + 2 :])

    assert list(violated(night(world))) == ["both_menus_offer_the_same_releases"]


def test_a_half_written_file_or_a_dangling_link_under_a_served_tree_is_found(world):
    version_dir = kernel(world).resolve().parent
    (version_dir / ".linux.new-1a2b3c4d").write_bytes(b"half")
    (world.root.base_dir("amd64") / "dangling").symlink_to("nowhere")

    found = violated(night(world))

    assert list(found) == ["no_partial_file_is_served"] and len(found["no_partial_file_is_served"]) == 2


def test_a_status_row_claiming_another_version_than_the_root_serves_or_none_is_found(world):
    claimed = world.claimed() | {("amd64", "orchid"): "0123456789abcdef"}
    assert list(violated(night(world, claimed=claimed))) == ["status_rows_agree_with_the_disk"]

    missing = {pair: v for pair, v in world.claimed().items() if pair != ("amd64", "orchid")}
    assert list(violated(night(world, claimed=missing))) == ["status_rows_agree_with_the_disk"]


@pytest.mark.django_db(transaction=True)  # the killed imports are processes of their own: they read committed rows
def test_thirty_nights_of_random_change_violate_nothing(tmp_path, settings):
    settings.PXEIMPORT_GRACE_SECONDS = 0
    settings.PXEIMPORT_HTTP_RETRIES = 0
    settings.PXEIMPORT_HTTP_BACKOFF = 0

    report = soak(tmp_path, nights=30, seed=1)

    assert report.violation == "", report.violation
    assert report.nights == 30 and all(report.checks[name] >= 31 for name in INVARIANTS)  # and after each kill
    assert len(report.events) >= 8  # most kinds happened at least once
    assert report.killed_running >= 1, report.table(0)


def test_a_full_disk_night_leaves_no_byte_free_and_the_import_keeps_what_it_served(world):
    if world.disk is None:
        pytest.skip("the soak may not mount a tmpfs here (not root): no night fills the disk")
    world.publish("amd64", "quartz")  # a point release the full disk keeps out
    served = served_pairs(world.root)

    world.fill_disk()
    assert os.statvfs(world.disk).f_bavail == 0
    outcome = world.run()
    world.free_disk()

    assert outcome.code in (1, 2) and "No space left on device" in outcome.output
    state = night(world, reachable=False, menus_writable=False)
    assert violated(state) == {} and served_pairs(world.root) == served
    assert world.run().code == 0 and violated(night(world)) == {}  # the next night takes the point release


def test_menus_naming_an_older_whole_version_while_the_pointer_names_the_new_one_are_found(world):
    """The stable pointer is not what a node boots: the menus name the version dir, and that is what is checked."""
    release = world.root.base_dir("amd64") / "quartz"
    old = os.readlink(release / "install")
    shutil.copytree(release / old, world.work / "kept")
    world.publish("amd64", "quartz")
    assert world.run().code == 0
    new = os.readlink(release / "install")
    shutil.copytree(world.work / "kept", release / old)  # the old version, whole and verified, beside the new
    for name in ("pxelinux.cfg/default", "grub/grub.cfg"):
        menu = world.root.base_dir("amd64") / name
        menu.write_text(menu.read_text().replace(new, old))

    assert list(violated(night(world))) == ["selected_and_offered_is_served_as_published"]
