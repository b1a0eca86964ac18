"""The debian-installer layout: where the images directory is and what its SHA256SUMS must list."""

from __future__ import annotations

import pytest

from pxeimport.layouts import LayoutError, RemoteFile
from pxeimport.layouts.debian_installer import INDEX_NAME, NetbootIndex, images_urls, parse_index
from pxeimport.lib import InvalidName
from pxeimport.trust import ChecksumIndexError

IMAGES = "http://mirror.example/ubuntu/dists/focal/main/installer-amd64/current/images/"


def h(n: int) -> str:
    return f"{n:064x}"


def sums(*paths: str) -> str:
    return "".join(f"{h(i + 1)}  ./{p}\n" for i, p in enumerate(paths))


def index(*paths: str, arch: str = "amd64", installer_dir: str | None = None) -> NetbootIndex:
    return parse_index(sums(*paths), images_url=IMAGES, arch=arch, installer_dir=installer_dir)


NETBOOT = "netboot/ubuntu-installer/amd64"


# images_urls ---------------------------------------------------------------------------------


def test_images_urls_are_images_then_legacy_images_under_current():
    assert images_urls("http://archive.ubuntu.com/ubuntu/dists", "focal", "amd64") == [
        "http://archive.ubuntu.com/ubuntu/dists/focal/main/installer-amd64/current/images/",
        "http://archive.ubuntu.com/ubuntu/dists/focal/main/installer-amd64/current/legacy-images/",
    ]


@pytest.mark.parametrize("archive", ["http://m/debian/dists", "http://m/debian/dists/", "http://m/debian/dists//"])
def test_images_urls_are_the_same_with_or_without_a_trailing_slash(archive):
    urls = images_urls(archive, "bookworm", "arm64")
    assert urls[0] == "http://m/debian/dists/bookworm/main/installer-arm64/current/images/"
    assert all("//" not in url.removeprefix("http://") for url in urls)


def test_images_urls_end_with_a_slash_so_index_paths_can_be_appended():
    assert all(url.endswith("/") for url in images_urls("http://m/dists", "bookworm", "amd64"))


@pytest.mark.parametrize(
    ("release", "arch"), [("../../etc", "amd64"), ("bookworm", "amd64/../x"), ("Bookworm", "amd64")]
)
def test_images_urls_refuse_a_name_that_is_not_one_path_component(release, arch):
    with pytest.raises(InvalidName):
        images_urls("http://m/dists", release, arch)


# parse_index ---------------------------------------------------------------------------------


def test_parse_index_finds_the_installer_dir_from_the_kernel_it_lists():
    idx = index(f"{NETBOOT}/linux", f"{NETBOOT}/initrd.gz", "netboot/netboot.tar.gz")
    assert idx.installer_dir == "ubuntu-installer"
    assert idx.netboot_dir == NETBOOT
    assert idx.images_url == IMAGES
    assert idx.arch == "amd64"
    assert idx.entries[f"{NETBOOT}/linux"] == h(1)


def test_parse_index_ignores_installer_dirs_of_other_arches():
    idx = index(
        "netboot/debian-installer/arm64/linux",
        f"{NETBOOT}/linux",
        "netboot/other-installer/i386/linux",
    )
    assert idx.installer_dir == "ubuntu-installer"


def test_parse_index_ignores_kernels_outside_netboot():
    idx = index(f"{NETBOOT}/linux", "hd-media/other-installer/amd64/linux", "cdrom/x/amd64/linux")
    assert idx.installer_dir == "ubuntu-installer"


def test_parse_index_ignores_kernels_nested_deeper_than_the_netboot_dir():
    idx = index(f"{NETBOOT}/linux", "netboot/gtk/debian-installer/amd64/linux")
    assert idx.installer_dir == "ubuntu-installer"


def test_several_installer_dirs_for_the_arch_are_a_layout_error_naming_them():
    with pytest.raises(LayoutError) as caught:
        index(f"{NETBOOT}/linux", "netboot/debian-installer/amd64/linux")
    message = str(caught.value)
    assert message.startswith(IMAGES + INDEX_NAME)
    assert "several (debian-installer, ubuntu-installer)" in message
    assert "amd64" in message


def test_no_installer_dir_for_the_arch_is_a_layout_error():
    with pytest.raises(LayoutError) as caught:
        index("netboot/debian-installer/arm64/linux")
    assert "lists no netboot installer directories for amd64" in str(caught.value)


def test_a_given_installer_dir_picks_one_of_several():
    idx = index(f"{NETBOOT}/linux", "netboot/debian-installer/amd64/linux", installer_dir="debian-installer")
    assert idx.netboot_dir == "netboot/debian-installer/amd64"


def test_a_given_installer_dir_that_is_absent_is_a_layout_error_naming_what_is_listed():
    with pytest.raises(LayoutError) as caught:
        index(f"{NETBOOT}/linux", "netboot/other-installer/amd64/linux", installer_dir="debian-installer")
    message = str(caught.value)
    assert "has no netboot/debian-installer/amd64/" in message
    assert "(listed: other-installer, ubuntu-installer)" in message


def test_a_given_installer_dir_with_nothing_listed_says_none():
    with pytest.raises(LayoutError, match=r"\(listed: none\)"):
        index("netboot/netboot.tar.gz", installer_dir="debian-installer")


def test_an_installer_dir_that_is_not_a_safe_name_is_refused_naming_the_index_url():
    with pytest.raises(LayoutError) as caught:
        index("netboot/Debian-Installer/amd64/linux")
    assert str(caught.value).startswith(IMAGES + INDEX_NAME + ": invalid installer directory name")
    assert isinstance(caught.value.__cause__, InvalidName)


def test_a_bad_index_line_is_a_checksum_error_naming_the_index_url():
    with pytest.raises(ChecksumIndexError) as caught:
        parse_index(f"{h(1)}  ../../etc/passwd\n", images_url=IMAGES, arch="amd64")
    assert str(caught.value).startswith(IMAGES + INDEX_NAME + ": line 1")


def test_an_arch_with_regex_characters_is_matched_literally():
    with pytest.raises(LayoutError):
        index("netboot/debian-installer/amd64/linux", arch="amd6.")


# install_files --------------------------------------------------------------------------------


def test_install_files_are_the_kernel_and_initrd_with_urls_under_the_images_url():
    idx = index(f"{NETBOOT}/initrd.gz", f"{NETBOOT}/linux")
    assert idx.install_files() == [
        RemoteFile("linux", IMAGES + f"{NETBOOT}/linux", h(2)),
        RemoteFile("initrd.gz", IMAGES + f"{NETBOOT}/initrd.gz", h(1)),
    ]


def test_install_files_without_an_initrd_are_a_layout_error_naming_the_path():
    idx = index(f"{NETBOOT}/linux")
    with pytest.raises(LayoutError) as caught:
        idx.install_files()
    assert str(caught.value) == f"{IMAGES}{INDEX_NAME} does not list {NETBOOT}/initrd.gz"


def test_install_files_ignore_an_initrd_in_another_dir():
    idx = index(f"{NETBOOT}/linux", "netboot/ubuntu-installer/i386/initrd.gz", "netboot/initrd.gz")
    with pytest.raises(LayoutError):
        idx.install_files()


# loader_files ---------------------------------------------------------------------------------


def test_loader_files_are_none_when_there_is_no_pxelinux():
    idx = index(f"{NETBOOT}/linux", f"{NETBOOT}/initrd.gz", f"{NETBOOT}/boot-screens/ldlinux.c32")
    assert idx.loader_files() == []


def test_loader_files_are_pxelinux_alone_when_there_is_no_ldlinux():
    idx = index(f"{NETBOOT}/linux", f"{NETBOOT}/pxelinux.0")
    assert idx.loader_files() == [RemoteFile("pxelinux.0", IMAGES + f"{NETBOOT}/pxelinux.0", h(2))]


def test_loader_files_take_ldlinux_from_boot_screens():
    idx = index(f"{NETBOOT}/linux", f"{NETBOOT}/pxelinux.0", f"{NETBOOT}/boot-screens/ldlinux.c32")
    assert idx.loader_files() == [
        RemoteFile("pxelinux.0", IMAGES + f"{NETBOOT}/pxelinux.0", h(2)),
        RemoteFile("ldlinux.c32", IMAGES + f"{NETBOOT}/boot-screens/ldlinux.c32", h(3)),
    ]


def test_loader_files_take_ldlinux_from_beside_pxelinux():
    idx = index(f"{NETBOOT}/linux", f"{NETBOOT}/pxelinux.0", f"{NETBOOT}/ldlinux.c32")
    assert idx.loader_files()[1] == RemoteFile("ldlinux.c32", IMAGES + f"{NETBOOT}/ldlinux.c32", h(3))


def test_loader_files_name_ldlinux_once_when_it_is_in_both_places():
    idx = index(
        f"{NETBOOT}/linux",
        f"{NETBOOT}/pxelinux.0",
        f"{NETBOOT}/boot-screens/ldlinux.c32",
        f"{NETBOOT}/ldlinux.c32",
    )
    names = [f.name for f in idx.loader_files()]
    assert names == ["pxelinux.0", "ldlinux.c32"]
    assert idx.loader_files()[1].url == IMAGES + f"{NETBOOT}/ldlinux.c32"


def test_loader_files_ignore_a_pxelinux_of_another_installer_dir():
    idx = index(f"{NETBOOT}/linux", "netboot/pxelinux.0", "netboot/debian-installer/amd64/pxelinux.0")
    assert idx.loader_files() == []


def test_every_url_is_the_images_url_followed_by_the_index_path():
    idx = index(
        f"{NETBOOT}/linux",
        f"{NETBOOT}/initrd.gz",
        f"{NETBOOT}/pxelinux.0",
        f"{NETBOOT}/boot-screens/ldlinux.c32",
    )
    for remote in idx.install_files() + idx.loader_files():
        path = remote.url.removeprefix(IMAGES)
        assert remote.url.startswith(IMAGES)
        assert idx.entries[path] == remote.sha256
        assert path.endswith("/" + remote.name)
