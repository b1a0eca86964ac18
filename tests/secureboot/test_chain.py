"""A loader set judged as shim would judge it with Secure Boot on: GRUB against the shim's SBAT levels, and
MokManager of the shim's own build; real Debian binaries pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxeimport.secureboot import judge
from tests.support.requirements import require_tool
from tools.pe import OTHER_SHIM_SBAT, SHIM_SBAT, grub_sbat, pe_image, write_image, write_shim


def loader_set(tmp_path: Path, *, grub: str | None, mokmanager: str | None = SHIM_SBAT) -> dict[str, Path]:
    files = {
        "bootx64.efi": write_shim(tmp_path / "bootx64.efi"),
        "grubx64.efi": write_image(tmp_path / "grubx64.efi", grub),
    }
    if mokmanager is not None:
        files["mmx64.efi"] = write_image(tmp_path / "mmx64.efi", mokmanager)
    return files


def test_a_grub_that_meets_both_of_the_shims_levels_passes_with_nothing_said(tmp_path):
    judgement = judge(loader_set(tmp_path, grub=grub_sbat(5)))
    assert (judgement.refusals, judgement.warnings) == ([], [])


def test_a_grub_the_automatic_level_revokes_is_refused_naming_its_sbat_line_and_the_shims_level(tmp_path):
    (refusal,) = judge(loader_set(tmp_path, grub=grub_sbat(4))).refusals
    assert "grubx64.efi ('grub,4,Free Software Foundation,grub,2.06," in refusal
    assert "bootx64.efi's automatic SBAT level 'sbat,1,2025021800 shim,4 grub,5'" in refusal
    assert "grub generation 5 or later needed" in refusal


def test_a_grub_only_the_opt_in_latest_level_revokes_is_served_with_a_warning(tmp_path):
    grub = grub_sbat(5, "grub.proxmox,1,Proxmox,grub2,2.06-pve1,https://example.org/")
    judgement = judge(loader_set(tmp_path, grub=grub))
    assert judgement.refusals == []
    (warning,) = judgement.warnings
    assert "('grub.proxmox,1,Proxmox," in warning and "mokutil --set-sbat-policy latest" in warning
    assert "'sbat,1,2025051000 shim,4 grub,5 grub.proxmox,2'" in warning


def test_a_grub_without_an_sbat_section_is_refused_by_an_sbat_aware_shim(tmp_path):
    (refusal,) = judge(loader_set(tmp_path, grub=None)).refusals
    assert refusal.startswith("grubx64.efi has no .sbat section, and bootx64.efi (shim,4,UEFI shim")


def test_a_missing_mokmanager_is_a_note_that_says_when_it_matters(tmp_path):
    judgement = judge(loader_set(tmp_path, grub=grub_sbat(5), mokmanager=None))
    assert (judgement.refusals, judgement.warnings) == ([], [])
    assert judgement.notes == [
        "no MokManager (mmx64.efi) beside bootx64.efi: harmless unless a node's owner left a MOK request "
        "(mokutil --import); such a node stops with 'Failed to start MokManager: Not Found'"
    ]


def test_a_mokmanager_of_another_shim_build_is_refused(tmp_path):
    (refusal,) = judge(loader_set(tmp_path, grub=grub_sbat(5), mokmanager=OTHER_SHIM_SBAT)).refusals
    assert (
        "mmx64.efi (shim,4,UEFI shim,shim,1,https://github.com/rhboot/shim; shim.debian,1,Debian,shim,15.8" in refusal
    )
    assert "is not of bootx64.efi's build" in refusal


@pytest.mark.parametrize("damaged", ["bootx64.efi", "grubx64.efi", "mmx64.efi"])
def test_a_shim_grub_or_mokmanager_that_is_no_whole_uefi_application_is_refused(tmp_path, damaged):
    files = loader_set(tmp_path, grub=grub_sbat(5))
    files[damaged].write_text("<html>mirror error page</html>")
    (refusal,) = judge(files).refusals
    assert refusal.startswith(f"{damaged} is not a PE/COFF image")
    assert refusal.endswith("firmware and shim run only whole UEFI applications (PE images)")


def test_a_cut_short_grub_is_refused_as_truncated(tmp_path):
    files = loader_set(tmp_path, grub=grub_sbat(5))
    data = files["grubx64.efi"].read_bytes()
    files["grubx64.efi"].write_bytes(data[: len(data) - 700])
    (refusal,) = judge(files).refusals
    assert "grubx64.efi: its sections run past the end of the file (truncated?)" in refusal


def test_a_shim_without_a_revocation_level_is_a_warning_that_nothing_could_be_checked(tmp_path):
    files = loader_set(tmp_path, grub=grub_sbat(4))
    files["bootx64.efi"].write_bytes(pe_image({".sbat": SHIM_SBAT.encode()}))
    judgement = judge(files)
    assert judgement.refusals == []
    assert judgement.warnings == [
        "bootx64.efi (shim,4,UEFI shim,shim,1,https://github.com/rhboot/shim; shim.debian,1,Debian,shim,16.1,"
        "https://example.org/shim) carries no SBAT revocation level (.sbatlevel, shim 15.7 and later): what it "
        "loads cannot be checked against the levels newer shims wrote to nodes"
    ]


def test_a_shim_whose_sbatlevel_is_malformed_is_refused(tmp_path):
    files = loader_set(tmp_path, grub=grub_sbat(5))
    write_shim(files["bootx64.efi"], automatic="grub,5\n")
    (refusal,) = judge(files).refusals
    assert "bootx64.efi: an SBAT level starts with 'sbat,1,<date>'" in refusal


@pytest.fixture(scope="module")
def debian_loaders(tmp_path_factory) -> dict[str, Path]:
    """Debian 12's real shim, MokManager and network GRUB, from their packages (apt-get download, cached)."""
    require_tool("apt-get")
    require_tool("dpkg-deb")
    import subprocess

    from tools.package_archive import cached_debs

    debs = cached_debs(["shim-signed", "shim-helpers-amd64-signed", "grub-efi-amd64-signed"])
    out = tmp_path_factory.mktemp("debian-loaders")
    for deb in debs.values():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return {
        "bootx64.efi": out / "usr/lib/shim/shimx64.efi.signed",
        "mmx64.efi": out / "usr/lib/shim/mmx64.efi.signed",
        "grubx64.efi": out / "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
    }


def test_debians_own_shim_mokmanager_and_grub_pass(debian_loaders):
    judgement = judge(debian_loaders)
    assert (judgement.refusals, judgement.warnings) == ([], [])


def test_debians_shim_refuses_a_grub_of_generation_4_as_every_shim_since_the_february_2025_level_does(
    debian_loaders, tmp_path
):
    files = dict(debian_loaders, **{"grubx64.efi": write_image(tmp_path / "grubx64.efi", grub_sbat(4))})
    (refusal,) = judge(files).refusals
    assert "automatic SBAT level 'sbat,1,2025021800 shim,4 grub,5'" in refusal


def test_a_grub_served_where_the_shim_belongs_is_refused_as_no_shim(tmp_path):
    files = loader_set(tmp_path, grub=grub_sbat(5))
    write_image(files["bootx64.efi"], grub_sbat(5))
    assert judge(files).refusals == ["bootx64.efi's .sbat names no shim component: it is not a shim"]
