"""Network faults injected by a real loopback server, through the real command.

The set-up of each test: v1 of two releases installed, v2 published, one fault on one of bookworm's
v2 files. Whatever the fault: a clear error naming the URL and the reason, retries only where
another try can help, bookworm keeps serving v1, trixie and the loader still get v2, the run's row
says what happened, exit 1 (or 0 when a retry got through).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pxeimport.models import ImportRun, RunStatus
from tests.support.faulty import (
    ARGS,
    IMAGES,
    KERNEL,
    Published,
    broken_versions,
    fast_http,
    publish_both,
    published_set,
    run_import,
    serving,
    staging_entries,
)
from tests.support.requirements import require_tool
from tools.faultserver import FaultServer, make_self_signed_cert

pytestmark = pytest.mark.django_db

RETRIES = 2  # fast_http's
EVERY_TRY = RETRIES + 1
AFTER_ALL = f"(after {EVERY_TRY} attempts)"
TIMEOUT = 0.5


@pytest.fixture
def faults(archive) -> Iterator[FaultServer]:
    with FaultServer(archive.root) as server:
        yield server


@pytest.fixture
def v1_then_v2(archive, faults, tftp_root, signer, settings, monkeypatch) -> tuple[Published, Published]:
    """v1 of both releases installed; v2 published; the server's log and faults cleared."""
    fast_http(settings, timeout=TIMEOUT, retries=RETRIES)
    v1 = publish_both(archive, "v1")
    first = run_import(faults.url, tftp_root, signer.keyring)
    assert first.code == 0, first.stderr
    v2 = publish_both(archive, "v2")
    faults.clear()
    return v1, v2


def kernel_url(server: FaultServer, release: str = "bookworm") -> str:
    return server.url + KERNEL.format(release=release)


def last_run() -> ImportRun:
    return ImportRun.objects.order_by("-started", "-pk")[0]


@dataclass(frozen=True)
class Fault:
    inject: Callable[[FaultServer, str], None]
    reason: str
    attempts: int


def redirect_loop(server: FaultServer, path: str) -> None:
    server.redirect(path, "/elsewhere/a")
    server.redirect("/elsewhere/a", path)


def bad_gateway_then_unavailable(server: FaultServer, path: str) -> None:
    server.fail(path, 502, times=1)
    server.fail(path, 503, times=1)


# Each fault on bookworm's v2 kernel: what the error must say, how many requests may reach it.
FAILING = {
    "404 not found": Fault(lambda s, p: s.fail(p, 404), "HTTP 404 (not found)", 1),
    "403 forbidden": Fault(lambda s, p: s.fail(p, 403), "HTTP 403 Forbidden", 1),
    "500 every time": Fault(lambda s, p: s.fail(p, 500), f"HTTP 500 Internal Server Error {AFTER_ALL}", EVERY_TRY),
    "503 every time": Fault(lambda s, p: s.fail(p, 503), f"HTTP 503 Service Unavailable {AFTER_ALL}", EVERY_TRY),
    "reset mid-body": Fault(lambda s, p: s.reset(p, after=1000), "connection reset by the server", EVERY_TRY),
    "stall before the answer": Fault(
        lambda s, p: s.stall(p, seconds=10), f"timed out (no data for {TIMEOUT:g} s) {AFTER_ALL}", EVERY_TRY
    ),
    "stall mid-body": Fault(
        lambda s, p: s.stall(p, seconds=10, after=1000), f"timed out (no data for {TIMEOUT:g} s)", EVERY_TRY
    ),
    "truncated body": Fault(
        lambda s, p: s.truncate(p, keep=1000), "connection closed early: IncompleteRead(1000 bytes read", EVERY_TRY
    ),
    "wrong bytes": Fault(lambda s, p: s.corrupt(p), "SHA-256 mismatch: index says", 1),
    "huge, declared": Fault(
        lambda s, p: s.huge(p, size=10 << 30), f"Content-Length {10 << 30} exceeds the limit of 65536 bytes", 1
    ),
    "huge, undeclared": Fault(
        lambda s, p: s.huge(p, size=10 << 20, content_length=False), "body exceeds the limit of 65536 bytes", 1
    ),
    "redirect loop": Fault(redirect_loop, "too many redirects: a redirect loop", 1),
    "redirect to ftp": Fault(
        lambda s, p: s.redirect(p, "ftp://127.0.0.1/linux"),
        "redirected to a scheme that is not http or https: ftp://127.0.0.1/linux",
        1,
    ),
    "redirect to file": Fault(
        lambda s, p: s.redirect(p, "file:///etc/passwd"),
        "redirected to a scheme that is not http or https: file:///etc/passwd",
        1,
    ),
}


@pytest.mark.parametrize("name", FAILING)
def test_a_fault_on_one_file_fails_that_item_alone_and_keeps_what_it_served(
    name, v1_then_v2, faults, tftp_root, signer, settings
):
    v1, v2 = v1_then_v2
    settings.PXEIMPORT_MAX_FILE_BYTES = 65536
    fault = FAILING[name]
    kernel = KERNEL.format(release="bookworm")
    fault.inject(faults, "/" + kernel)

    result = run_import(faults.url, tftp_root, signer.keyring)

    assert result.code == 1, result.stderr
    # One line names the item, the URL and the reason, and says nothing was lost.
    line = next(line for line in result.stderr.splitlines() if "amd64/bookworm install failed" in line)
    assert f"{kernel_url(faults)}: {fault.reason}" in line
    assert re.search(r"; kept install-[0-9a-f]{16}, which is still served$", line), line
    assert faults.count(kernel) == fault.attempts, "retried where it cannot help, or not where it can"
    # Nothing installed is lost, the rest went ahead.
    assert serving(tftp_root, "bookworm") == published_set(
        {**v1["bookworm"], "pxelinux.0": v2["bookworm"]["pxelinux.0"]}
    )
    assert serving(tftp_root, "trixie") == published_set({**v2["trixie"], "pxelinux.0": v2["bookworm"]["pxelinux.0"]})
    assert staging_entries(tftp_root) == []
    assert broken_versions(tftp_root) == []
    run = last_run()
    assert (run.status, run.items_installed, run.items_failed) == (RunStatus.FAILED, 2, 1)
    assert f"amd64/bookworm install: {kernel_url(faults)}: {fault.reason}" in run.error_summary


# Faults another try gets past: how many requests the kernel then costs.
RECOVERING: dict[str, tuple[Callable[[FaultServer, str], None], int]] = {
    "500 once": (lambda s, p: s.fail(p, 500, times=1), 2),
    "502 then 503": (bad_gateway_then_unavailable, 3),
    "reset once": (lambda s, p: s.reset(p, after=1000, times=1), 2),
    "truncated once": (lambda s, p: s.truncate(p, keep=1000, times=1), 2),
    "stalled once": (lambda s, p: s.stall(p, seconds=10, times=1), 2),
    "surplus bytes forging the next answer": (
        lambda s, p: s.surplus(p, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged", delay=0.05),
        1,
    ),
    "no Content-Length": (lambda s, p: s.without_length(p), 1),
    "redirect to the same file elsewhere": (lambda s, p: s.redirect(p, p + "?mirror=2", times=1), 2),
}


@pytest.mark.parametrize("name", RECOVERING)
def test_a_fault_another_try_gets_past_costs_only_that_try(name, v1_then_v2, faults, tftp_root, signer):
    _, v2 = v1_then_v2
    inject, attempts = RECOVERING[name]
    kernel = KERNEL.format(release="bookworm")
    inject(faults, "/" + kernel)

    result = run_import(faults.url, tftp_root, signer.keyring)

    assert result.code == 0, result.stderr
    assert faults.count("*/bookworm/*/amd64/linux*") == attempts
    for release in ("bookworm", "trixie"):
        assert serving(tftp_root, release) == published_set(v2[release], loader=v2["bookworm"])
    assert last_run().status == RunStatus.SUCCEEDED


def test_retries_back_off_exponentially(v1_then_v2, faults, tftp_root, signer, settings, monkeypatch):
    fast_http(settings, timeout=TIMEOUT, retries=3, backoff=0.1)
    kernel = KERNEL.format(release="bookworm")
    faults.fail("/" + kernel, 503)

    assert run_import(faults.url, tftp_root, signer.keyring).code == 1

    gaps = faults.gaps(kernel)
    assert len(gaps) == 3
    for gap, wanted in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert wanted * 0.9 <= gap < wanted + 0.5, gaps


@pytest.mark.slow
def test_retry_after_is_honoured(v1_then_v2, faults, tftp_root, signer):
    kernel = KERNEL.format(release="bookworm")
    faults.fail("/" + kernel, 429, times=1, retry_after="1")

    assert run_import(faults.url, tftp_root, signer.keyring).code == 0

    assert faults.count(kernel) == 2
    assert faults.gaps(kernel)[0] >= 0.95


# Faults on the indexes ---------------------------------------------------------------------------


def test_a_broken_index_download_is_retried(v1_then_v2, faults, tftp_root, signer):
    index = IMAGES.format(release="bookworm") + "SHA256SUMS"
    faults.reset("/" + index, after=10, times=1)

    assert run_import(faults.url, tftp_root, signer.keyring).code == 0

    assert faults.count(index) == 2


def test_a_tampered_index_fails_both_items_of_its_release_and_only_those(v1_then_v2, faults, tftp_root, signer):
    v1, v2 = v1_then_v2
    index = IMAGES.format(release="bookworm") + "SHA256SUMS"
    faults.corrupt("/" + index)

    result = run_import(faults.url, tftp_root, signer.keyring)

    assert result.code == 1
    assert f"{faults.url}{index}: does not match the signed" in result.stderr
    assert faults.count(index) == 1
    assert serving(tftp_root, "bookworm") == published_set(v1["bookworm"])
    assert serving(tftp_root, "trixie")["linux"] == v2["trixie"]["linux"]
    assert (last_run().items_failed, last_run().items_installed) == (2, 1)


def test_a_release_file_the_server_keeps_failing_fails_its_release(v1_then_v2, faults, tftp_root, signer):
    v1, _ = v1_then_v2
    faults.fail("/dists/bookworm/InRelease", 500)

    result = run_import(faults.url, tftp_root, signer.keyring)

    assert result.code == 1
    assert f"{faults.url}dists/bookworm/InRelease: HTTP 500 Internal Server Error {AFTER_ALL}" in result.stderr
    assert faults.count("/dists/bookworm/InRelease") == EVERY_TRY
    assert serving(tftp_root, "bookworm") == published_set(v1["bookworm"])


def test_a_server_that_refuses_connections_fails_every_item_and_changes_nothing(v1_then_v2, tftp_root, signer):
    v1, _ = v1_then_v2
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on `port` now.
    result = run_import(f"http://127.0.0.1:{port}/", tftp_root, signer.keyring)

    assert result.code == 1
    assert "connection failed" in result.stderr and "Connection refused" in result.stderr
    assert AFTER_ALL in result.stderr
    assert serving(tftp_root, "bookworm") == published_set(v1["bookworm"])
    assert last_run().items_failed == 3


# Upstream drops a release ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["installer dir removed", "whole release removed"])
def test_a_release_upstream_dropped_keeps_serving_is_reported_and_nothing_is_deleted(
    how, archive, v1_then_v2, faults, tftp_root, signer, settings
):
    v1, v2 = v1_then_v2
    settings.PXEIMPORT_GRACE_SECONDS = 0  # anything superseded could go at once: nothing may
    if how == "installer dir removed":
        archive.remove("bookworm", "amd64")
        archive.sign_release("bookworm")
    else:
        import shutil

        shutil.rmtree(archive.root / "dists" / "bookworm")
    release_dir = tftp_root / "maas" / "amd64" / "base" / "bookworm"
    before = sorted(p.relative_to(release_dir) for p in release_dir.rglob("*"))

    results = [run_import(faults.url, tftp_root, signer.keyring, verbosity=0) for _ in range(2)]

    for result in results:
        assert result.code == 1
        # Loud even at -v0 (cron mails stderr): the URL, the 404, and that nothing was lost.
        assert f"{faults.url}{IMAGES.format(release='bookworm')}SHA256SUMS: HTTP 404 (not found)" in result.stderr
        assert "which is still served" in result.stderr
    assert sorted(p.relative_to(release_dir) for p in release_dir.rglob("*")) == before
    assert serving(tftp_root, "bookworm") == published_set(v1["bookworm"])
    assert serving(tftp_root, "trixie")["linux"] == v2["trixie"]["linux"]
    run = last_run()
    assert run.status == RunStatus.FAILED
    assert "amd64/bookworm install: " in run.error_summary and "HTTP 404" in run.error_summary


# HTTPS -------------------------------------------------------------------------------------------


@pytest.fixture
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    require_tool("openssl")
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_an_https_archive_with_a_trusted_certificate_imports(archive, tftp_root, signer, tls_cert, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    v1 = publish_both(archive, "v1")
    with FaultServer(archive.root, tls=tls_cert) as server:
        result = run_import(server.url, tftp_root, signer.keyring)
    assert server.url.startswith("https://")
    assert result.code == 0, result.stderr
    assert serving(tftp_root, "trixie")["linux"] == v1["trixie"]["linux"]


def test_an_untrusted_certificate_is_refused_at_once(archive, tftp_root, signer, tls_cert, settings, monkeypatch):
    fast_http(settings)
    publish_both(archive, "v1")
    with FaultServer(archive.root, tls=tls_cert) as server:
        result = run_import(server.url, tftp_root, signer.keyring)
    assert result.code == 1
    assert "TLS failed" in result.stderr and "certificate verify failed" in result.stderr
    assert "attempts" not in result.stderr, "a certificate that does not verify is not retried"
    assert server.requests == []
    assert not (tftp_root / "maas" / "amd64" / "base" / "bookworm").exists()


def test_a_redirect_from_https_down_to_http_is_refused(
    archive, v1_then_v2, faults, tftp_root, signer, tls_cert, monkeypatch
):
    v1, v2 = v1_then_v2
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    kernel = KERNEL.format(release="bookworm")
    with FaultServer(archive.root, tls=tls_cert) as secure:
        secure.redirect("/" + kernel, faults.url + kernel)
        result = run_import(secure.url, tftp_root, signer.keyring)
    assert result.code == 1
    assert f"{secure.url}{kernel}: redirected from https down to plain http ({faults.url}{kernel})" in result.stderr
    assert faults.count(kernel) == 0
    assert serving(tftp_root, "bookworm") == published_set(v1["bookworm"], loader=v2["bookworm"])


def test_a_dry_run_against_a_failing_mirror_names_the_fault_and_changes_nothing(
    archive, faults, tftp_root, signer, settings, monkeypatch
):
    fast_http(settings, timeout=TIMEOUT, retries=RETRIES)
    publish_both(archive, "v1")
    index = IMAGES.format(release="trixie") + "SHA256SUMS"
    faults.fail("/" + index, 503)

    result = run_import(faults.url, tftp_root, signer.keyring, *ARGS, "--dry-run")

    assert result.code == 1
    assert f"{faults.url}{index}: HTTP 503 Service Unavailable {AFTER_ALL}" in result.stderr
    assert "amd64/bookworm install" in result.stdout  # the rest is still planned
    kernel = KERNEL.format(release="bookworm")
    assert [r.method for r in faults.matching(kernel)] == ["HEAD"], "a dry run asks sizes, downloads no file"
    assert not tftp_root.exists()
    assert ImportRun.objects.count() == 0
