"""SBAT data read as shim reads it: `.sbat` lines, `.sbatlevel` payloads, and which generations a level revokes."""

from __future__ import annotations

import pytest

from pxeimport.secureboot import PeError, SbatError, parse_sbat, parse_sbatlevel, read_section
from pxeimport.secureboot.sbat import parse_level, revoked
from tools.pe import AUTOMATIC, LATEST, grub_sbat, pe_image, sbatlevel, write_shim


def test_a_shims_sbatlevel_gives_its_automatic_and_its_opt_in_latest_level():
    levels = parse_sbatlevel(sbatlevel(AUTOMATIC, LATEST), name="bootx64.efi")
    assert str(levels.automatic) == "sbat,1,2025021800 shim,4 grub,5"
    assert str(levels.latest) == "sbat,1,2025051000 shim,4 grub,5 grub.proxmox,2"
    assert levels.latest.date == "2025051000"


def test_a_long_section_name_is_read_through_the_coff_string_table(tmp_path):
    shim = write_shim(tmp_path / "bootx64.efi")
    data = read_section(shim, ".sbatlevel")
    assert data is not None and data.startswith(b"\0\0\0\0\x08\0\0\0")
    assert read_section(shim, ".vendor_cert") is None


def test_an_sbat_section_is_read_up_to_its_first_nul_as_shim_reads_it():
    entries = parse_sbat(grub_sbat(5).encode() + b"\0" * 300 + b"grub,1\n", name="grubx64.efi")
    assert [(e.component, e.generation) for e in entries] == [("sbat", 1), ("grub", 5), ("grub.debian", 5)]
    assert entries[1].line.startswith("grub,5,Free Software Foundation,grub,2.06,")


def test_a_generation_that_is_not_a_number_counts_as_zero_as_shims_atoi_does():
    (entry,) = parse_sbat(b"grub,x,Vendor,grub,1,https://example.org/\n", name="grubx64.efi")
    assert entry.generation == 0


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "its .sbat section is empty"),
        (b"\0\0", "its .sbat section is empty"),
        (b"grub\n", "has no component and generation"),
        (b",5,Vendor\n", "has no component and generation"),
    ],
)
def test_a_malformed_sbat_section_is_an_error_that_names_the_file(data, said):
    with pytest.raises(SbatError, match=f"grubx64.efi: .*{said}"):
        parse_sbat(data, name="grubx64.efi")


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\0\0\0\0\x08\0\0\0", "too short"),
        (b"\x01\0\0\0\x08\0\0\0\x08\0\0\0sbat,1,1\n\0", "format version 1"),
        (b"\0\0\0\0\x08\0\0\0\xff\0\0\0sbat,1,1\n\0", "points outside the section"),
        (b"\0\0\0\0\x08\0\0\0\x08\0\0\0grub,5\n\0", "starts with 'sbat,1,<date>'"),
    ],
)
def test_a_malformed_sbatlevel_is_an_error_that_says_what_is_wrong(data, said):
    with pytest.raises(SbatError, match=said):
        parse_sbatlevel(data, name="bootx64.efi")


def test_a_level_revokes_only_a_lower_generation_of_a_component_it_names():
    level = parse_level("sbat,1,2025021800\nshim,4\ngrub,5\n", name="shim")
    image = parse_sbat((grub_sbat(4) + "grub.vendor,1,V,grub,1,u\n").encode(), name="grubx64.efi")
    assert [(e.line.split(",")[0], r.generation) for e, r in revoked(image, level)] == [("grub", 5)]
    assert revoked(parse_sbat(grub_sbat(5).encode(), name="grubx64.efi"), level) == []
    assert revoked(parse_sbat(grub_sbat(6).encode(), name="grubx64.efi"), level) == []


def test_a_file_that_is_no_pe_image_is_a_pe_error(tmp_path):
    (tmp_path / "grubx64.efi").write_bytes(b"#!/bin/sh\n")
    with pytest.raises(PeError, match=r"grubx64\.efi is not a PE/COFF image"):
        read_section(tmp_path / "grubx64.efi", ".sbat")


def test_a_section_that_runs_past_the_end_of_the_file_is_a_pe_error(tmp_path):
    image = pe_image({".sbat": b"x" * 1000})
    (tmp_path / "grubx64.efi").write_bytes(image[:-600])
    with pytest.raises(PeError, match="its sections run past the end of the file"):
        read_section(tmp_path / "grubx64.efi", ".sbat")
