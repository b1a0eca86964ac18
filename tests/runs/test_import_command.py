"""import_pxe_files end to end: a real HTTP server on loopback serving a generated archive."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.models import ImportRun, Install, InstalledFile, RunStatus
from pxeimport.tftproot import TftpRoot
from tests.support.tree import base, install_dir, snapshot
from tools.archive import ArchiveTree, netboot_files

pytestmark = pytest.mark.django_db


def publish(archive: ArchiveTree, tag: str, release: str = "bookworm", arch: str = "amd64", **kw) -> dict[str, bytes]:
    files = netboot_files(tag, **kw)
    archive.publish(release, arch, files)
    return files


def test_downloads_the_pre_boot_loader(archive, import_pxe, tftp_root):
    files = publish(archive, "v1")
    result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert result.code == 0, result.stderr
    assert (base(tftp_root, "amd64") / "pxelinux.0").read_bytes() == files["pxelinux.0"]
    assert (base(tftp_root, "amd64") / "ldlinux.c32").read_bytes() == files["boot-screens/ldlinux.c32"]


def test_ignores_a_missing_pre_boot_loader(archive, import_pxe, tftp_root):
    publish(archive, "v1", arch="arm64", loader=False)
    result = import_pxe("--arch", "arm64", "--release", "bookworm", "--current-release", "bookworm")
    assert result.code == 0, result.stderr
    assert "arm64 pre-boot loader (from bookworm): skipped, no pre-boot loader" in result.stdout
    assert not (base(tftp_root, "arm64") / "pxelinux.0").exists()
    assert (install_dir(tftp_root, "arm64", "bookworm") / "linux").exists()


def test_updates_the_pre_boot_loader(archive, import_pxe, tftp_root):
    publish(archive, "v1")
    assert import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm").code == 0
    files = publish(archive, "v2")
    result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert result.code == 0, result.stderr
    assert (base(tftp_root, "amd64") / "pxelinux.0").read_bytes() == files["pxelinux.0"]
    assert "amd64 pre-boot loader (from bookworm): installed" in result.stdout


def test_leaves_the_pre_boot_loader_untouched_when_unchanged(archive, archive_server, import_pxe, tftp_root):
    publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    loader = base(tftp_root, "amd64") / "pxelinux.0"
    before = (loader.lstat(), loader.stat())
    archive_server.clear_requests()

    assert import_pxe(*args).code == 0

    assert (loader.lstat(), loader.stat()) == before
    assert [r.path for r in archive_server.requests if r.path.endswith("pxelinux.0")] == []


def test_downloads_the_install_image(archive, import_pxe, tftp_root):
    files = publish(archive, "v1")
    result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == files["linux"]
    assert (install_dir(tftp_root, "amd64", "bookworm") / "initrd.gz").read_bytes() == files["initrd.gz"]


def test_updates_the_install_image(archive, import_pxe, tftp_root):
    publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    old_target = os.readlink(install_dir(tftp_root, "amd64", "bookworm"))
    files = publish(archive, "v2")

    result = import_pxe(*args)

    assert result.code == 0, result.stderr
    assert (install_dir(tftp_root, "amd64", "bookworm") / "initrd.gz").read_bytes() == files["initrd.gz"]
    assert os.readlink(install_dir(tftp_root, "amd64", "bookworm")) != old_target
    # The superseded version stays for nodes mid-boot (the default grace period is an hour).
    assert (install_dir(tftp_root, "amd64", "bookworm").parent / old_target / "linux").exists()


def test_leaves_the_install_image_untouched_when_unchanged(archive, archive_server, import_pxe, tftp_root):
    publish(archive, "v1", release="bookworm")
    publish(archive, "v1", release="trixie")
    args = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "trixie")
    assert import_pxe(*args).code == 0
    before = snapshot(tftp_root)
    archive_server.clear_requests()

    result = import_pxe(*args, verbosity=2)

    assert result.code == 0, result.stderr
    assert snapshot(tftp_root) == before
    fetched = sorted(r.path.rsplit("/", 1)[-1] for r in archive_server.requests)
    assert fetched == ["InRelease", "InRelease"]  # each SHA256SUMS from the cache, by the hash InRelease lists
    assert "0 installed, 3 unchanged" in result.stdout


def test_a_changed_initrd_alone_downloads_only_the_initrd(archive, archive_server, import_pxe, tftp_root):
    files = publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    kernel_inode = (install_dir(tftp_root, "amd64", "bookworm") / "linux").stat().st_ino
    archive.publish("bookworm", "amd64", {**files, "initrd.gz": b"a new initrd"})
    archive_server.clear_requests()

    assert import_pxe(*args).code == 0

    fetched = [r.path.rsplit("/", 1)[-1] for r in archive_server.requests]
    assert sorted(fetched) == ["InRelease", "SHA256SUMS", "initrd.gz"]
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").stat().st_ino == kernel_inode
    assert (install_dir(tftp_root, "amd64", "bookworm") / "initrd.gz").read_bytes() == b"a new initrd"


def test_checksum_mismatch_keeps_the_old_files_and_exits_1(archive, import_pxe, tftp_root):
    good = publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    images = archive.publish("bookworm", "amd64", netboot_files("v2"))
    netboot = images / archive.netboot_path("bookworm", "amd64")
    (netboot / "initrd.gz").write_bytes(b"corrupted on the mirror")

    result = import_pxe(*args)

    assert result.code == 1
    assert "SHA-256 mismatch" in result.stderr
    assert "initrd.gz" in result.stderr
    assert (install_dir(tftp_root, "amd64", "bookworm") / "initrd.gz").read_bytes() == good["initrd.gz"]
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == good["linux"]
    assert list((tftp_root / "maas" / ".staging").iterdir()) == []
    run = ImportRun.objects.order_by("-started")[0]
    assert run.status == RunStatus.FAILED
    assert "SHA-256 mismatch" in run.error_summary


def test_one_failing_release_does_not_stop_the_others(archive, import_pxe, tftp_root):
    publish(archive, "v1", release="bookworm")
    result = import_pxe(
        "--arch", "amd64", "--release", "bookworm", "--release", "forky", "--current-release", "bookworm"
    )
    assert result.code == 1
    assert "amd64/forky install failed" in result.stderr
    assert "HTTP 404" in result.stderr
    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").exists()


def test_lock_held_exits_75_and_changes_nothing(archive, import_pxe, tftp_root):
    publish(archive, "v1")
    with TftpRoot(tftp_root).lock():
        result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert result.code == 75
    assert f"pid {os.getpid()}" in result.stderr
    assert not (base(tftp_root, "amd64") / "bookworm").exists()
    assert ImportRun.objects.get().status == RunStatus.LOCKED


def test_dry_run_changes_nothing(archive, archive_server, import_pxe, tftp_root):
    publish(archive, "v1")
    result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm", "--dry-run")
    assert result.code == 0, result.stderr
    assert "amd64/bookworm install" in result.stdout
    assert "fetch linux, initrd.gz" in result.stdout
    assert not tftp_root.exists()
    assert ImportRun.objects.count() == 0
    fetched = [r for r in archive_server.requests if not r.path.endswith(("SHA256SUMS", "InRelease"))]
    assert fetched and all(r.method == "HEAD" and r.bytes_sent == 0 for r in fetched)
    # The plan says how much a real run would move: the four files, sized by HEAD.
    assert "TO FETCH" in result.stdout
    assert f"Would fetch {4 * 4096 / 1e6:.1f} MB." in result.stdout


def test_each_run_and_install_is_recorded_with_file_hashes(archive, archive_server, import_pxe, tftp_root):
    files = publish(archive, "v1")
    assert import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm").code == 0

    run = ImportRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED
    assert (run.items_installed, run.items_failed) == (2, 0)
    assert run.bytes_downloaded >= sum(len(b) for b in files.values())
    install = Install.objects.get(kind="install")
    assert (install.arch, install.release) == ("amd64", "bookworm")
    kernel = InstalledFile.objects.get(install=install, name="linux")
    import hashlib

    assert kernel.sha256 == hashlib.sha256(files["linux"]).hexdigest()
    assert kernel.size == len(files["linux"])
    assert kernel.url.startswith(archive_server.url) and kernel.url.endswith("/linux")


def test_files_are_readable_by_the_tftp_server_whatever_the_umask(archive, import_pxe, tftp_root):
    publish(archive, "v1")
    old = os.umask(0o077)
    try:
        assert import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm").code == 0
    finally:
        os.umask(old)
    kernel = install_dir(tftp_root, "amd64", "bookworm") / "linux"
    assert kernel.stat().st_mode & 0o777 == 0o644
    for directory in (tftp_root / "maas", base(tftp_root, "amd64"), kernel.resolve().parent):
        assert directory.stat().st_mode & 0o777 == 0o755


def test_migrates_a_tftp_root_left_by_the_old_script(archive, archive_server, import_pxe, tftp_root):
    files = publish(archive, "v1")
    legacy = install_dir(tftp_root, "amd64", "bookworm")
    legacy.mkdir(parents=True)
    (legacy / "linux").write_bytes(files["linux"])
    (legacy / "initrd.gz").write_bytes(b"an older initrd")
    (base(tftp_root, "amd64") / "pxelinux.0").write_bytes(files["pxelinux.0"])
    archive_server.clear_requests()

    result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")

    assert result.code == 0, result.stderr
    assert legacy.is_symlink()
    assert (legacy / "initrd.gz").read_bytes() == files["initrd.gz"]
    assert (base(tftp_root, "amd64") / "pxelinux.0").is_symlink()
    fetched = sorted(r.path.rsplit("/", 1)[-1] for r in archive_server.requests)
    assert fetched == ["InRelease", "SHA256SUMS", "initrd.gz", "ldlinux.c32"]


def test_an_archive_url_that_is_not_http_is_a_usage_error(tftp_root):
    with pytest.raises(CommandError) as caught:
        call_command("import_pxe_files", "--archive", "file:///etc/", "--tftproot", str(tftp_root))
    assert caught.value.returncode == 2


def test_a_release_name_with_a_slash_is_a_usage_error(import_pxe, tftp_root):
    result = import_pxe("--arch", "amd64", "--release", "../../etc", "--current-release", "bookworm")
    assert result.code == 2
    assert "invalid release name" in result.stderr
    assert not tftp_root.exists()


def test_quiet_run_prints_nothing_on_success(archive, import_pxe):
    publish(archive, "v1")
    result = import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm", verbosity=0)
    assert (result.code, result.stdout, result.stderr) == (0, "", "")


def test_saved_selection_is_imported_without_options(archive, archive_server, tftp_root, signer):
    from pxeimport.models import BootSource

    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="local",
        url=archive_server.url + "dists/",
        distribution="debian",
        current_release="bookworm",
        keyring=str(signer.keyring),
    )
    source.arches.create(name="amd64")
    source.releases.create(name="bookworm")
    publish(archive, "v1")

    call_command("import_pxe_files", "--tftproot", str(tftp_root), verbosity=0)

    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").exists()
    assert Install.objects.filter(source=source).count() == 2


def test_superseded_versions_go_after_the_grace_period(archive, import_pxe, tftp_root, settings):
    settings.PXEIMPORT_GRACE_SECONDS = 0
    publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    publish(archive, "v2")
    assert import_pxe(*args).code == 0
    release_dir = install_dir(tftp_root, "amd64", "bookworm").parent
    assert sorted(p.name for p in release_dir.iterdir() if p.name.startswith("install-")) == [
        os.readlink(release_dir / "install")
    ]


def test_ldlinux_from_the_netboot_dir_itself_is_found_too(archive, import_pxe, tftp_root):
    files = netboot_files("v1", ldlinux=False)
    files["ldlinux.c32"] = b"ldlinux beside pxelinux"
    archive.publish("bookworm", "amd64", files)
    assert import_pxe("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm").code == 0
    assert (base(tftp_root, "amd64") / "ldlinux.c32").read_bytes() == b"ldlinux beside pxelinux"


def test_legacy_images_directory_is_used_when_images_is_absent(archive, import_pxe, tftp_root):
    files = netboot_files("focal")
    archive.publish("focal", "amd64", files, images_dir="legacy-images")
    assert import_pxe("--arch", "amd64", "--release", "focal", "--current-release", "focal").code == 0
    assert (install_dir(tftp_root, "amd64", "focal") / "linux").read_bytes() == files["linux"]


def test_help_describes_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        call_command("import_pxe_files", "--help")
    assert "75 another import holds the lock" in " ".join(capsys.readouterr().out.split())


def test_downloads_run_in_parallel_up_to_the_jobs_limit(archive, archive_server, import_pxe, tftp_root):
    for release in ("bookworm", "trixie", "forky"):
        publish(archive, release, release=release, size=512 * 1024)
    archive_server.set_rate(2 * 1024 * 1024)  # each file takes a quarter second: downloads overlap
    archive_server.clear_requests()
    args = ["--arch", "amd64", "--current-release", "bookworm", "--jobs", "3"]
    for release in ("bookworm", "trixie", "forky"):
        args += ["--release", release]

    result = import_pxe(*args)

    assert result.code == 0, result.stderr
    assert archive_server.max_concurrent == 3
    for release in ("bookworm", "trixie", "forky"):
        assert (install_dir(tftp_root, "amd64", release) / "linux").exists()


def test_one_file_shared_by_two_arches_is_downloaded_once(archive, archive_server, import_pxe, tftp_root):
    shared = netboot_files("same-loader")
    for arch in ("amd64", "i386"):
        files = netboot_files(f"v1-{arch}")
        files["pxelinux.0"] = shared["pxelinux.0"]
        archive.publish("bookworm", arch, files)
    archive_server.clear_requests()

    result = import_pxe("--arch", "amd64", "--arch", "i386", "--release", "bookworm", "--current-release", "bookworm")

    assert result.code == 0, result.stderr
    assert sum(r.path.endswith("/pxelinux.0") for r in archive_server.requests) == 1
    for arch in ("amd64", "i386"):
        assert (base(tftp_root, arch) / "pxelinux.0").read_bytes() == shared["pxelinux.0"]


def test_an_unchanged_archive_costs_one_whole_inrelease_per_release(archive, archive_server, import_pxe, tftp_root):
    publish(archive, "v1", release="bookworm")
    publish(archive, "v1", release="trixie")
    args = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "trixie")
    assert import_pxe(*args).code == 0
    archive_server.clear_requests()

    result = import_pxe(*args)

    assert result.code == 0, result.stderr
    # The roots, whole; each SHA256SUMS from the cache, its hash being what the new InRelease lists.
    assert sorted((r.path, r.status) for r in archive_server.requests) == [
        ("/dists/bookworm/InRelease", 200),
        ("/dists/trixie/InRelease", 200),
    ]


def test_a_changed_index_is_fetched_whole_again_despite_the_cache(archive, archive_server, import_pxe, tftp_root):
    publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    files = publish(archive, "v2")

    assert import_pxe(*args).code == 0

    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == files["linux"]


def test_a_failure_on_an_empty_root_says_nothing_was_installed_and_nothing_is_served(archive, import_pxe):
    publish(archive, "v1")  # bookworm only: trixie fails
    result = import_pxe("--arch", "amd64", "--release", "trixie", "--current-release", "bookworm")
    assert result.code == 1
    assert "amd64/trixie install failed:" in result.stderr
    assert "nothing was installed before; nothing is served for amd64/trixie" in result.stderr
    assert "kept" not in result.stderr and "still served" not in result.stderr
    assert "1 had nothing installed before, so nothing is served for it" in result.stderr


def test_a_failure_names_the_version_it_keeps_serving(archive, import_pxe, tftp_root):
    publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    live = os.readlink(install_dir(tftp_root, "amd64", "bookworm"))
    archive.remove("bookworm", "amd64")
    archive.sign_release("bookworm")

    result = import_pxe(*args)

    assert result.code == 1
    assert "amd64/bookworm install failed:" in result.stderr
    assert f"kept {live}, which is still served" in result.stderr
    assert "kept _loader-" in result.stderr  # the loader's own place, read from the root too
    assert "2 still serve what was installed before" in result.stderr


def test_a_dry_run_says_which_leftovers_and_modes_a_real_run_would_clean_up_and_changes_none(
    archive, import_pxe, tftp_root
):
    publish(archive, "v1")
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert import_pxe(*args).code == 0
    maas = tftp_root / "maas"
    (maas / ".staging" / "fetch-crashed").mkdir(parents=True)
    (maas / ".partial").mkdir(exist_ok=True)
    (maas / ".partial" / ("ab" * 32)).write_bytes(b"half of a file no item wants")
    (maas / ".partial" / ("ab" * 32 + ".json")).write_text("{}")
    menu = maas / "amd64/base/pxelinux.cfg/default"
    menu.chmod(0o600)  # tftpd could not read it

    dry = import_pxe(*args, "--dry-run")

    assert dry.code == 0, dry.stderr
    assert "would clear maas/.staging/: 1 leftover entries of an earlier run" in dry.stdout
    assert f"would remove maas/.partial/{'ab' * 32}: a partial download no item wants" in dry.stdout
    assert "would open 1 path(s) to the TFTP server's user (o+x, o+r)" in dry.stdout
    assert (maas / ".staging" / "fetch-crashed").is_dir() and (maas / ".partial" / ("ab" * 32)).exists()
    assert menu.stat().st_mode & 0o777 == 0o600

    real = import_pxe(*args)

    assert "cleared maas/.staging/: 1 leftover entries of an earlier run" in real.stdout
    assert f"removed maas/.partial/{'ab' * 32}: a partial download no item wants" in real.stdout
    assert "opened 1 path(s) to the TFTP server's user" in real.stdout
    assert not (maas / ".partial" / ("ab" * 32)).exists() and menu.stat().st_mode & 0o004
