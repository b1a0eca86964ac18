"""No validator a server gives can keep the importer blind (issue 12 item 4).

Roots (InRelease, Release, SHA256SUMS with its own .gpg) are fetched whole every run; a child index
comes from the cache only when its hash is what the freshly verified parent lists, without asking.
Servers here answer If-Modified-Since by mtime (Python's http.server) or 304 to anything conditional.
"""

from __future__ import annotations

import hashlib
import os
import time
from io import StringIO
from pathlib import Path

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.fetching import Fetcher, FetchError, FetchSettings, IndexCache
from tests.support.commands import CommandResult
from tests.support.faulty import run_import
from tests.support.tree import install_dir
from tools.archive import ArchiveTree, netboot_files
from tools.ubuntu_archive import UbuntuNetbootTree, ubuntu_files
from tools.validatorserver import ValidatorServer

URL = "http://mirror.example/dists/bookworm/main/installer-amd64/current/images/SHA256SUMS"
ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
UBUNTU_ARGS = ("--arch", "amd64", "--release", "noble", "--current-release", "noble")
DAY = 86400


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The cache and the fetcher ------------------------------------------------------------------


def test_a_cached_copy_is_returned_only_for_the_hash_asked(tmp_path):
    cache = IndexCache(tmp_path)
    cache.put(URL, b"v1 sums", sha(b"v1 sums"))
    assert cache.get(URL, sha(b"v1 sums")) == b"v1 sums"
    assert cache.get(URL, sha(b"v2 sums")) is None
    assert cache.get(URL + ".other", sha(b"v1 sums")) is None


def test_a_body_that_is_not_what_its_parent_lists_is_not_kept(tmp_path):
    cache = IndexCache(tmp_path)
    cache.put(URL, b"tampered", sha(b"what the Release lists"))
    assert list(tmp_path.iterdir()) == []


def test_a_cached_copy_altered_on_disk_is_not_used(tmp_path):
    cache = IndexCache(tmp_path)
    cache.put(URL, b"v1 sums", sha(b"v1 sums"))
    (body,) = tmp_path.iterdir()
    body.write_bytes(b"v1 sumz")
    assert cache.get(URL, sha(b"v1 sums")) is None


@responses.activate
def test_a_listed_index_whose_hash_is_cached_is_used_without_a_request(tmp_path):
    fetcher = Fetcher(FetchSettings(retries=0), index_cache=IndexCache(tmp_path))
    responses.get(URL, body=b"v1 sums")
    assert fetcher.get_bytes(URL, sha(b"v1 sums")) == b"v1 sums"

    assert fetcher.get_bytes(URL, sha(b"v1 sums")) == b"v1 sums"

    assert len(responses.calls) == 1
    assert fetcher.index_cache is not None and fetcher.index_cache.hits == 1


@responses.activate
def test_a_listed_index_with_another_hash_is_fetched_whole_and_unconditionally(tmp_path):
    fetcher = Fetcher(FetchSettings(retries=0), index_cache=IndexCache(tmp_path))
    responses.get(URL, body=b"v1 sums", headers={"ETag": '"1"', "Last-Modified": "Sat, 01 Nov 2025 10:00:00 GMT"})
    fetcher.get_bytes(URL, sha(b"v1 sums"))
    responses.replace(responses.GET, URL, body=b"v2 sums")

    assert fetcher.get_bytes(URL, sha(b"v2 sums")) == b"v2 sums"

    request = responses.calls[-1].request
    assert not {"If-None-Match", "If-Modified-Since"} & set(request.headers)
    assert fetcher.get_bytes(URL, sha(b"v2 sums")) == b"v2 sums"
    assert len(responses.calls) == 2  # the new copy was kept


@responses.activate
def test_a_root_is_fetched_whole_every_time_asking_caches_on_the_way_to_revalidate(tmp_path):
    fetcher = Fetcher(FetchSettings(retries=0), index_cache=IndexCache(tmp_path))
    inrelease = "http://mirror.example/dists/bookworm/InRelease"
    responses.get(inrelease, body=b"signed", headers={"ETag": '"1"', "Last-Modified": "Sat, 01 Nov 2025 10:00:00 GMT"})

    fetcher.get_bytes(inrelease)
    fetcher.get_bytes(inrelease)

    assert len(responses.calls) == 2
    for call in responses.calls:
        assert not {"If-None-Match", "If-Modified-Since"} & set(call.request.headers)
        assert call.request.headers["Cache-Control"] == "max-age=0"


@responses.activate
def test_a_304_to_an_unconditional_request_is_an_error_not_a_cache_hit(tmp_path):
    fetcher = Fetcher(FetchSettings(retries=0), index_cache=IndexCache(tmp_path))
    responses.get(URL, status=304)
    with pytest.raises(FetchError, match="HTTP 304"):
        fetcher.get_bytes(URL, sha(b"anything"))


# End to end, over servers whose validators lie -------------------------------------------------


def set_mtime(paths: list[Path], when: float) -> None:
    for path in paths:
        os.utime(path, (when, when))


def release_files(archive: ArchiveTree, release: str = "bookworm") -> list[Path]:
    top = archive.root / "dists" / release
    return [top / "InRelease", top / "Release", top / "Release.gpg"]


@pytest.mark.django_db
def test_a_new_index_older_by_mtime_than_the_cached_one_is_still_seen(archive, signer, tftp_root):
    """Was: the new InRelease with the cached (304, older mtime) SHA256SUMS, "does not match the signed
    Release" on every run, reading like tampering."""
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    with ValidatorServer(archive.root, "mtime") as server:
        assert run_import(server.url, tftp_root, signer.keyring, *ARGS).code == 0
        images = archive.publish("bookworm", "amd64", netboot_files("v2"))
        set_mtime([images / "SHA256SUMS"], time.time() - DAY)  # restored from a backup
        set_mtime(release_files(archive), time.time() + 60)  # signed a minute later than the cached copy

        first = run_import(server.url, tftp_root, signer.keyring, *ARGS)
        second = run_import(server.url, tftp_root, signer.keyring, *ARGS)

        assert first.code == 0, first.stderr
        assert "does not match" not in first.stderr
        assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == netboot_files("v2")["linux"]
        assert second.code == 0 and "0 installed" in second.stdout
        assert all(not r.conditions for r in server.requests)


@pytest.mark.django_db
def test_a_new_version_whose_every_file_is_older_by_mtime_is_not_reported_unchanged(archive, signer, tftp_root):
    """Was: InRelease and SHA256SUMS both answered 304, "unchanged" for ever while upstream moved on."""
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    with ValidatorServer(archive.root, "mtime") as server:
        assert run_import(server.url, tftp_root, signer.keyring, *ARGS).code == 0
        images = archive.publish("bookworm", "amd64", netboot_files("v2"))
        set_mtime([images / "SHA256SUMS", *release_files(archive)], time.time() - DAY)

        result = run_import(server.url, tftp_root, signer.keyring, *ARGS)

        assert result.code == 0, result.stderr
        assert "2 installed" in result.stdout
        assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == netboot_files("v2")["linux"]


@pytest.mark.django_db
@pytest.mark.parametrize("lists_installer", [True, False], ids=["Release-lists-SHA256SUMS", "SHA256SUMS.gpg"])
def test_a_server_answering_304_to_everything_conditional_cannot_hide_a_new_version(
    tmp_path, signer, tftp_root, lists_installer
):
    archive = ArchiveTree(tmp_path / "archive", signer=signer, release_lists_installer=lists_installer)
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    with ValidatorServer(archive.root, "liar") as server:
        assert run_import(server.url, tftp_root, signer.keyring, *ARGS).code == 0
        archive.publish("bookworm", "amd64", netboot_files("v2"))

        result = run_import(server.url, tftp_root, signer.keyring, *ARGS)

        assert result.code == 0, result.stderr
        assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == netboot_files("v2")["linux"]
        assert {r.status for r in server.requests} == {200}


@pytest.mark.django_db
def test_an_ubuntu_release_dir_behind_a_lying_server_is_still_seen(tmp_path, signer, tftp_root):
    tree = UbuntuNetbootTree(tmp_path / "archive", signer=signer)
    tree.publish("noble", "24.04.3", "amd64", ubuntu_files("24.04.3"))
    with ValidatorServer(tree.root, "liar") as server:
        assert import_ubuntu(server.url, tftp_root, signer.keyring).code == 0
        tree.publish("noble", "24.04.4", "amd64", ubuntu_files("24.04.4"))

        result = import_ubuntu(server.url, tftp_root, signer.keyring)

        assert result.code == 0, result.stderr
        assert (install_dir(tftp_root, "amd64", "noble") / "linux").read_bytes() == ubuntu_files("24.04.4")["linux"]
        assert all(not r.conditions for r in server.requests)


@pytest.mark.django_db
def test_a_no_op_run_fetches_each_release_once_and_its_listed_indexes_from_the_cache(archive, signer, tftp_root):
    for release in ("bookworm", "trixie"):
        archive.publish(release, "amd64", netboot_files(f"v1-{release}"))
    args = ("--arch", "amd64", "--release", "bookworm", "--release", "trixie", "--current-release", "trixie")
    with ValidatorServer(archive.root, "liar") as server:
        assert run_import(server.url, tftp_root, signer.keyring, *args).code == 0
        server.clear()

        result = run_import(server.url, tftp_root, signer.keyring, *args)

        assert result.code == 0, result.stderr
        assert sorted(r.path for r in server.requests) == ["/dists/bookworm/InRelease", "/dists/trixie/InRelease"]
        sizes = sum((archive.root / "dists" / r / "InRelease").stat().st_size for r in ("bookworm", "trixie"))
        assert sum(r.bytes_sent for r in server.requests) == sizes


def import_ubuntu(url: str, tftp_root: Path, keyring: Path) -> CommandResult:
    out, err = StringIO(), StringIO()
    argv = ["--layout", "ubuntu-netboot", "--archive", url, "--tftproot", str(tftp_root), "--keyring", str(keyring)]
    try:
        call_command("import_pxe_files", *argv, *UBUNTU_ARGS, stdout=out, stderr=err)
        return CommandResult(0, out.getvalue(), err.getvalue())
    except CommandError as exc:
        return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))
