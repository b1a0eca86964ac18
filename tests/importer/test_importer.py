"""Importer over faked HTTP (responses) and a real TFTP root on tmp_path."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import responses

from pxeimport.fetching import Fetcher, FetchSettings
from pxeimport.importer import Importer, plan
from pxeimport.items import ItemKind, ItemResult, Outcome, Selection, Source
from pxeimport.lib import InvalidName
from pxeimport.tftproot import TftpRoot
from tests.support.tree import install_dir, snapshot

ARCHIVE = "http://mirror.example/ubuntu/dists/"
OTHER = "http://other.example/debian/dists/"
# Signature checks (gpgv, keyrings) are not what these tests are about: they are off here.
SOURCE = Source(name="ubuntu", url=ARCHIVE, key=1, verify_signatures=False)
SECOND = Source(name="debian", url=OTHER, key=2, verify_signatures=False)


INSTALL, LOADER = ItemKind.INSTALL, ItemKind.LOADER


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files(tag: str, *, loader: bool = True) -> dict[str, bytes]:
    """Netboot files, named relative to netboot/<installer>/<arch>/."""
    found = {"linux": f"kernel {tag}".encode(), "initrd.gz": f"initrd {tag}".encode()}
    if loader:
        found["pxelinux.0"] = f"pxelinux {tag}".encode()
        found["boot-screens/ldlinux.c32"] = f"ldlinux {tag}".encode()
    return found


def images_url(release: str, arch: str, images_dir: str = "images", archive: str = ARCHIVE) -> str:
    return f"{archive}{release}/main/installer-{arch}/current/{images_dir}/"


def publish(
    http: responses.RequestsMock,
    release: str,
    arch: str,
    content: dict[str, bytes],
    *,
    images_dir: str = "images",
    archive: str = ARCHIVE,
    installer: str = "ubuntu-installer",
    bodies: dict[str, bytes] | None = None,
) -> str:
    """Serve an index for `content` and each file (with `bodies` overriding what is served); return images URL."""
    url = images_url(release, arch, images_dir, archive)
    netboot = f"netboot/{installer}/{arch}"
    sums = "".join(f"{sha(data)}  ./{netboot}/{name}\n" for name, data in sorted(content.items()))
    http.upsert(responses.GET, url + "SHA256SUMS", body=sums)
    for name, data in content.items():
        http.upsert(responses.GET, f"{url}{netboot}/{name}", body=(bodies or {}).get(name, data))
    return url


def fetched(http: responses.RequestsMock) -> list[str]:
    """The URLs GET fetched (a dry run also asks sizes with HEAD, which moves no file)."""
    return [str(call.request.url) for call in http.calls if call.request.method == "GET"]


def names_fetched(http: responses.RequestsMock) -> list[str]:
    return sorted(url.rsplit("/", 1)[-1] for url in fetched(http))


@pytest.fixture
def root(tmp_path: Path) -> TftpRoot:
    return TftpRoot(tmp_path / "tftpboot")


@pytest.fixture
def make_importer(root: TftpRoot):
    def make(grace_seconds: float = 3600, **kw) -> Importer:
        return Importer(TftpRoot(root.path, grace_seconds), Fetcher(FetchSettings(retries=0, backoff=0)), **kw)

    return make


def items_for(*releases: str, arches: tuple[str, ...] = ("amd64",), current: str = "bookworm", source=SOURCE):
    return plan([Selection(source, arches, releases, current)])


# plan -----------------------------------------------------------------------------------------


def test_plan_puts_each_arch_loader_first_then_its_releases():
    items = items_for("bookworm", "trixie", arches=("amd64", "arm64"), current="trixie")
    assert [(i.arch, i.kind, i.release) for i in items] == [
        ("amd64", LOADER, "trixie"),
        ("amd64", INSTALL, "bookworm"),
        ("amd64", INSTALL, "trixie"),
        ("arm64", LOADER, "trixie"),
        ("arm64", INSTALL, "bookworm"),
        ("arm64", INSTALL, "trixie"),
    ]
    assert all(i.source == SOURCE for i in items)


def test_plan_keeps_the_first_source_for_a_place_another_source_also_fills():
    items = plan(
        [
            Selection(SOURCE, ("amd64",), ("bookworm",), "bookworm"),
            Selection(SECOND, ("amd64", "arm64"), ("bookworm", "trixie"), "trixie"),
        ]
    )
    assert [(i.source.name, i.arch, i.kind, i.release) for i in items] == [
        ("ubuntu", "amd64", LOADER, "bookworm"),
        ("ubuntu", "amd64", INSTALL, "bookworm"),
        ("debian", "amd64", INSTALL, "trixie"),
        ("debian", "arm64", LOADER, "trixie"),
        ("debian", "arm64", INSTALL, "bookworm"),
        ("debian", "arm64", INSTALL, "trixie"),
    ]


def test_plan_lists_a_release_named_twice_once():
    items = items_for("bookworm", "bookworm")
    assert [(i.kind, i.release) for i in items] == [(LOADER, "bookworm"), (INSTALL, "bookworm")]


def test_plan_with_no_arches_plans_nothing():
    assert plan([Selection(SOURCE, (), ("bookworm",), "bookworm")]) == []


@pytest.mark.parametrize(
    ("arches", "releases", "current"),
    [(("../x",), ("bookworm",), "bookworm"), (("amd64",), ("a/b",), "bookworm"), (("amd64",), ("bookworm",), "..")],
)
def test_plan_refuses_a_bad_name_before_any_work(arches, releases, current):
    with pytest.raises(InvalidName):
        plan([Selection(SOURCE, arches, releases, current)])


def test_a_bad_name_in_a_later_selection_fails_the_whole_plan():
    with pytest.raises(InvalidName):
        plan([Selection(SOURCE, ("amd64",), ("bookworm",), "bookworm"), Selection(SECOND, ("AMD64",), (), "trixie")])


def test_items_describe_themselves_for_the_operator():
    loader, install = items_for("trixie", current="bookworm")
    assert str(loader) == "amd64 pre-boot loader (from bookworm)"
    assert str(install) == "amd64/trixie install"


# run: installing ------------------------------------------------------------------------------


def test_run_installs_the_loader_and_the_release(http, root, make_importer):
    content = files("v1")
    url = publish(http, "bookworm", "amd64", content)

    loader, install = make_importer().run(items_for("bookworm"))

    assert (loader.outcome, install.outcome) == (Outcome.INSTALLED, Outcome.INSTALLED)
    base = root.base_dir("amd64")
    assert (base / "pxelinux.0").read_bytes() == content["pxelinux.0"]
    assert (base / "ldlinux.c32").read_bytes() == content["boot-screens/ldlinux.c32"]
    assert (install_dir(root.path, "amd64", "bookworm") / "linux").read_bytes() == content["linux"]
    assert install.path == install_dir(root.path, "amd64", "bookworm").resolve()
    assert install.previous_version is None
    assert install.bytes_downloaded == len(content["linux"]) + len(content["initrd.gz"])
    assert [(f.name, f.sha256, f.url, f.size, f.downloaded) for f in install.files] == [
        ("linux", sha(content["linux"]), url + "netboot/ubuntu-installer/amd64/linux", len(content["linux"]), True),
        (
            "initrd.gz",
            sha(content["initrd.gz"]),
            url + "netboot/ubuntu-installer/amd64/initrd.gz",
            len(content["initrd.gz"]),
            True,
        ),
    ]


def test_a_second_run_with_nothing_changed_downloads_only_the_index(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    first = make_importer().run(items_for("bookworm"))
    before = snapshot(root.path)
    http.calls.reset()

    second = make_importer().run(items_for("bookworm"))

    assert [r.outcome for r in second] == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    assert [r.version for r in second] == [r.version for r in first]
    assert [r.previous_version for r in second] == [r.version for r in first]
    assert all(not f.downloaded for r in second for f in r.files)
    assert names_fetched(http) == ["SHA256SUMS"]
    assert snapshot(root.path) == before


def test_a_changed_initrd_alone_downloads_only_the_initrd_and_reuses_the_kernel(http, root, make_importer):
    content = files("v1")
    publish(http, "bookworm", "amd64", content)
    (_, first) = make_importer().run(items_for("bookworm"))
    kernel_inode = (install_dir(root.path, "amd64", "bookworm") / "linux").stat().st_ino
    publish(http, "bookworm", "amd64", {**content, "initrd.gz": b"initrd v2"})
    http.calls.reset()

    (loader, second) = make_importer().run(items_for("bookworm"))

    assert loader.outcome == Outcome.UNCHANGED
    assert second.outcome == Outcome.INSTALLED
    assert second.previous_version == first.version != second.version
    assert names_fetched(http) == ["SHA256SUMS", "initrd.gz"]
    assert second.bytes_downloaded == len(b"initrd v2")
    assert [(f.name, f.downloaded) for f in second.files] == [("linux", False), ("initrd.gz", True)]
    assert (install_dir(root.path, "amd64", "bookworm") / "linux").stat().st_ino == kernel_inode


def test_an_index_without_a_pre_boot_loader_skips_the_loader(http, root, make_importer):
    url = publish(http, "bookworm", "arm64", files("v1", loader=False))
    loader, install = make_importer().run(items_for("bookworm", arches=("arm64",)))
    assert loader.outcome == Outcome.SKIPPED
    assert loader.message == f"no pre-boot loader in {url}"
    assert install.outcome == Outcome.INSTALLED
    assert not os.path.lexists(root.base_dir("arm64") / "pxelinux.0")


# run: indexes ---------------------------------------------------------------------------------


def test_the_legacy_images_dir_is_used_when_images_is_not_found(http, root, make_importer):
    content = files("focal")
    http.get(images_url("focal", "amd64") + "SHA256SUMS", status=404)
    legacy = publish(http, "focal", "amd64", content, images_dir="legacy-images")

    loader, install = make_importer().run(items_for("focal", current="focal"))

    assert (loader.outcome, install.outcome) == (Outcome.INSTALLED, Outcome.INSTALLED)
    assert all(f.url.startswith(legacy) for f in install.files)
    assert (install_dir(root.path, "amd64", "focal") / "initrd.gz").read_bytes() == content["initrd.gz"]


def test_the_index_is_fetched_once_for_the_loader_and_the_install_of_one_release(http, make_importer):
    url = publish(http, "bookworm", "amd64", files("v1"))
    make_importer().run(items_for("bookworm"))
    assert fetched(http).count(url + "SHA256SUMS") == 1


def test_the_index_is_fetched_once_per_source_release_and_arch(http, make_importer):
    urls = [
        publish(http, release, arch, files(f"{release}-{arch}"))
        for release in ("bookworm", "trixie")
        for arch in ("amd64", "arm64")
    ]
    results = make_importer().run(items_for("bookworm", "trixie", arches=("amd64", "arm64"), current="trixie"))
    assert all(r.outcome == Outcome.INSTALLED for r in results)
    assert sorted(u for u in fetched(http) if u.endswith("SHA256SUMS")) == sorted(u + "SHA256SUMS" for u in urls)


def test_a_missing_release_fails_both_of_its_items_after_one_try_of_each_images_dir(http, make_importer):
    http.get(images_url("nosuch", "amd64") + "SHA256SUMS", status=404)
    http.get(images_url("nosuch", "amd64", "legacy-images") + "SHA256SUMS", status=404)

    loader, install = make_importer().run(items_for("nosuch", current="nosuch"))

    assert (loader.outcome, install.outcome) == (Outcome.FAILED, Outcome.FAILED)
    assert "HTTP 404" in install.message
    assert f"also tried {images_url('nosuch', 'amd64', 'legacy-images')}SHA256SUMS" in install.message
    assert len(http.calls) == 2


def test_a_server_error_on_images_does_not_fall_back_to_legacy_images(http, make_importer):
    http.get(images_url("bookworm", "amd64") + "SHA256SUMS", status=500)
    legacy = publish(http, "bookworm", "amd64", files("v1"), images_dir="legacy-images")
    results = make_importer().run(items_for("bookworm"))
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert "HTTP 500" in results[1].message
    assert legacy + "SHA256SUMS" not in fetched(http)


def test_an_index_with_an_unsafe_installer_dir_is_fetched_once(http, make_importer):
    url = publish(http, "bookworm", "amd64", files("v1"), installer="Ubuntu-Installer")
    results = make_importer().run(items_for("bookworm"))
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert fetched(http).count(url + "SHA256SUMS") == 1


def test_an_index_without_an_initrd_fails_the_install_but_not_the_loader(http, root, make_importer):
    content = files("v1")
    del content["initrd.gz"]
    publish(http, "bookworm", "amd64", content)

    loader, install = make_importer().run(items_for("bookworm"))

    assert loader.outcome == Outcome.INSTALLED
    assert install.outcome == Outcome.FAILED
    assert "does not list netboot/ubuntu-installer/amd64/initrd.gz" in install.message
    assert not os.path.lexists(install_dir(root.path, "amd64", "bookworm"))


def test_a_hostile_index_fails_its_items_and_writes_nothing(http, root, make_importer):
    http.get(images_url("bookworm", "amd64") + "SHA256SUMS", body=f"{sha(b'x')}  ../../../etc/passwd\n")
    results = make_importer().run(items_for("bookworm"))
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert "unsafe path" in results[0].message
    assert not root.base_dir("amd64").exists()


# run: failures keep what is installed -----------------------------------------------------------


def test_a_bad_download_fails_the_item_and_keeps_the_installed_files(http, root, make_importer):
    good = files("v1")
    publish(http, "bookworm", "amd64", good)
    (_, first) = make_importer().run(items_for("bookworm"))
    pointer = install_dir(root.path, "amd64", "bookworm")
    target = os.readlink(pointer)
    new = files("v2")
    publish(http, "bookworm", "amd64", new, bodies={"initrd.gz": b"corrupted on the mirror"})

    (loader, failed) = make_importer().run(items_for("bookworm"))

    assert loader.outcome == Outcome.INSTALLED
    assert failed.outcome == Outcome.FAILED
    assert "SHA-256 mismatch" in failed.message
    assert failed.message.endswith(f"; kept {target}, which is still served")
    assert os.readlink(pointer) == target
    assert (pointer / "linux").read_bytes() == good["linux"]
    assert (pointer / "initrd.gz").read_bytes() == good["initrd.gz"]
    assert list(root.staging.iterdir()) == []
    assert sorted(p.name for p in pointer.parent.iterdir()) == [".kernel-opts", "install", f"install-{first.version}"]


def test_one_failing_item_does_not_stop_the_next(http, root, make_importer):
    http.get(images_url("nosuch", "amd64") + "SHA256SUMS", status=404)
    http.get(images_url("nosuch", "amd64", "legacy-images") + "SHA256SUMS", status=404)
    publish(http, "bookworm", "amd64", files("v1"))

    results = make_importer().run(items_for("nosuch", "bookworm"))

    assert [(str(r.item), r.outcome) for r in results] == [
        ("amd64 pre-boot loader (from bookworm)", Outcome.INSTALLED),
        ("amd64/nosuch install", Outcome.FAILED),
        ("amd64/bookworm install", Outcome.INSTALLED),
    ]


def test_a_symlinked_arch_dir_fails_the_item_and_nothing_is_written_there(http, root, make_importer, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.maas.mkdir(parents=True)
    os.symlink(elsewhere, root.maas / "amd64")
    publish(http, "bookworm", "amd64", files("v1"))

    results = make_importer().run(items_for("bookworm"))

    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert "is a symlink" in results[1].message
    assert list(elsewhere.iterdir()) == []


# run: dry run ----------------------------------------------------------------------------------


def test_a_dry_run_changes_nothing_on_disk(http, root, make_importer):
    content = files("v1")
    publish(http, "bookworm", "amd64", content)

    results = make_importer().run(items_for("bookworm"), dry_run=True)

    assert [r.outcome for r in results] == [Outcome.PLANNED, Outcome.PLANNED]
    assert [(f.name, f.size, f.downloaded) for f in results[1].files] == [
        ("linux", None, True),
        ("initrd.gz", None, True),
    ]
    assert not root.path.exists()
    assert names_fetched(http) == ["SHA256SUMS"]  # the files themselves are only asked their size, with HEAD


def test_a_dry_run_over_an_installed_root_touches_nothing_and_plans_only_changes(http, root, make_importer):
    content = files("v1")
    publish(http, "bookworm", "amd64", content)
    make_importer().run(items_for("bookworm"))
    leftover = root.staging / "fetch-crashed"
    leftover.mkdir()
    publish(http, "bookworm", "amd64", {**content, "initrd.gz": b"initrd v2"})
    before = snapshot(root.path)
    http.calls.reset()

    loader, install = make_importer().run(items_for("bookworm"), dry_run=True)

    assert loader.outcome == Outcome.UNCHANGED
    assert install.outcome == Outcome.PLANNED
    assert [f.name for f in install.to_download] == ["initrd.gz"]
    assert snapshot(root.path) == before
    assert leftover.exists()
    assert names_fetched(http) == ["SHA256SUMS"]


# run: callback, staging and garbage ----------------------------------------------------------------


def test_on_result_is_called_once_per_item_in_order(http, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    http.get(images_url("nosuch", "amd64") + "SHA256SUMS", status=404)
    http.get(images_url("nosuch", "amd64", "legacy-images") + "SHA256SUMS", status=404)
    seen: list[ItemResult] = []
    items = items_for("bookworm", "nosuch")

    results = make_importer(on_result=seen.append).run(items)

    assert [r.item for r in seen] == items
    assert [id(r) for r in seen] == [id(r) for r in results]


def test_with_one_job_on_result_sees_each_item_installed_before_the_next_starts(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    publish(http, "trixie", "amd64", files("v2"))
    observed = []

    def on_result(result: ItemResult) -> None:
        observed.append((str(result.item), os.path.lexists(install_dir(root.path, "amd64", "trixie"))))

    make_importer(on_result=on_result, jobs=1).run(items_for("bookworm", "trixie"))

    assert observed == [
        ("amd64 pre-boot loader (from bookworm)", False),
        ("amd64/bookworm install", False),
        ("amd64/trixie install", True),
    ]


def test_a_run_clears_staging_left_by_a_crashed_run(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    leftover = root.staging_dir() / "fetch-crashed"
    leftover.mkdir()
    (leftover / "linux").write_bytes(b"half a kernel")
    make_importer().run(items_for("bookworm"))
    assert list(root.staging.iterdir()) == []


def test_superseded_versions_stay_within_the_grace_period(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    (_, first) = make_importer().run(items_for("bookworm"))
    publish(http, "bookworm", "amd64", files("v2"))
    make_importer(grace_seconds=3600, clock=time.time).run(items_for("bookworm"))
    assert first.path.exists()


def test_superseded_versions_go_once_the_grace_period_has_passed(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    (old_loader, old_install) = make_importer().run(items_for("bookworm"))
    publish(http, "bookworm", "amd64", files("v2"))

    (new_loader, new_install) = make_importer(grace_seconds=60, clock=lambda: time.time() + 61).run(
        items_for("bookworm")
    )
    # The boot menu naming the old install was replaced only now: it stays for nodes that read it.
    assert old_install.path.exists()
    assert not old_loader.path.exists()
    make_importer(grace_seconds=60, clock=lambda: time.time() + 122).run(items_for("bookworm"))

    assert not old_install.path.exists()
    assert new_install.path.exists() and new_loader.path.exists()


def test_garbage_is_not_collected_for_a_failed_item(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    make_importer().run(items_for("bookworm"))
    publish(http, "bookworm", "amd64", files("v2"))
    make_importer().run(items_for("bookworm"))
    publish(http, "bookworm", "amd64", files("v3"), bodies={"linux": b"corrupt"})
    release_dir = install_dir(root.path, "amd64", "bookworm").parent
    before = sorted(p.name for p in release_dir.iterdir())

    (_, failed) = make_importer(grace_seconds=0, clock=lambda: time.time() + 86400).run(items_for("bookworm"))

    assert failed.outcome == Outcome.FAILED
    assert sorted(p.name for p in release_dir.iterdir()) == before
    assert len([name for name in before if name.startswith("install")]) == 3  # the pointer and two versions


def test_with_several_jobs_results_still_come_in_plan_order(http, root, make_importer):
    for release in ("bookworm", "trixie", "forky"):
        publish(http, release, "amd64", files(release))
    observed: list[str] = []
    items = items_for("bookworm", "trixie", "forky")

    results = make_importer(on_result=lambda r: observed.append(str(r.item)), jobs=4).run(items)

    assert observed == [str(i) for i in items] == [str(r.item) for r in results]
    assert all(r.outcome == Outcome.INSTALLED for r in results)


@pytest.mark.parametrize(
    ("per_host", "names"),
    [
        # pxelinux per MAC and per hex IP (paths relative to pxelinux.0's dir), GRUB per MAC at its prefix.
        ("maas/amd64/base/pxelinux.cfg/01-52-54-00-12-34-56", "KERNEL {v}/linux\nAPPEND initrd={v}/initrd.gz\n"),
        ("maas/amd64/base/pxelinux.cfg/C0A8000A", "KERNEL {v}/linux\nAPPEND initrd={v}/initrd.gz\n"),
        ("maas/amd64/base/grub/grub.cfg-01-52-54-00-12-34-56", "linux /maas/amd64/base/{v}/linux\n"),
        ("grub/grub.cfg-01-52-54-00-12-34-56", "linux /maas/amd64/base/{v}/linux\ninitrd /maas/amd64/base/{v}/i\n"),
        ("debian-installer/amd64/grub/grub.cfg-192.168.0.10", "linux /maas/amd64/base/{v}/linux\n"),
    ],
)
def test_a_version_a_per_host_config_names_outlives_the_grace_period_until_the_file_goes(
    http, root, make_importer, per_host, names
):
    publish(http, "bookworm", "amd64", files("v1"))
    (_, old) = make_importer().run(items_for("bookworm"))
    version = f"bookworm/{old.path.name}"
    host_file = root.path / per_host
    host_file.parent.mkdir(parents=True, exist_ok=True)
    host_file.write_text(names.format(v=version))
    publish(http, "bookworm", "amd64", files("v2"))
    make_importer(grace_seconds=60, clock=lambda: time.time() + 61).run(items_for("bookworm"))

    make_importer(grace_seconds=60, clock=lambda: time.time() + 122).run(items_for("bookworm"))
    assert old.path.is_dir() and (old.path / "linux").read_bytes() == files("v1")["linux"]

    host_file.unlink()
    make_importer(grace_seconds=60, clock=lambda: time.time() + 183).run(items_for("bookworm"))
    assert not old.path.exists()


def test_a_per_host_config_of_another_arch_does_not_keep_this_archs_version(http, root, make_importer):
    publish(http, "bookworm", "amd64", files("v1"))
    (_, old) = make_importer().run(items_for("bookworm"))
    other = root.path / "grub" / "grub.cfg-01-52-54-00-12-34-56"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text(f"linux /maas/arm64/base/bookworm/{old.path.name}/linux\n")
    publish(http, "bookworm", "amd64", files("v2"))
    make_importer(grace_seconds=60, clock=lambda: time.time() + 61).run(items_for("bookworm"))
    make_importer(grace_seconds=60, clock=lambda: time.time() + 122).run(items_for("bookworm"))
    assert not old.path.exists()
