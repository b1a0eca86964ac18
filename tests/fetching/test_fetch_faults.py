"""The fetcher against the fault server, over real loopback sockets: what the end-to-end fault
tests do not pin down (Retry-After's cap and date form, one connection per fetch, index retries)."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from pxeimport.fetching import Fetcher, FetchError, FetchSettings, NotFound
from tools.faultserver import FaultServer, make_self_signed_cert

BODY = bytes(range(256)) * 512  # 128 KiB


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FaultServer]:
    (tmp_path / "file").write_bytes(BODY)
    (tmp_path / "index").write_bytes(b"an index\n")
    with FaultServer(tmp_path) as fault_server:
        yield fault_server


FAST = FetchSettings(read_timeout=0.5, retries=2, backoff=0.01)


def fetcher(**overrides: Any) -> Fetcher:
    return Fetcher(dataclasses.replace(FAST, **overrides))


def test_a_retry_after_longer_than_the_cap_waits_only_the_cap(server, tmp_path):
    server.fail("/file", 503, times=1, retry_after="3600")
    started = time.monotonic()
    fetcher(retry_after_max=0.3).download(server.url + "file", tmp_path / "out", hashlib.sha256(BODY).hexdigest())
    assert 0.3 <= time.monotonic() - started < 2
    assert server.count("/file") == 2


def test_a_retry_after_given_as_a_date_is_honoured(server):
    server.fail("/index", 503, times=1, retry_after=formatdate(time.time() + 2, usegmt=True))
    assert fetcher().get_bytes(server.url + "index") == b"an index\n"
    assert server.gaps("/index")[0] >= 0.9  # the date has one-second resolution


def test_an_index_whose_body_breaks_off_is_fetched_again(server):
    server.truncate("/index", keep=3, times=1)
    assert fetcher().get_bytes(server.url + "index") == b"an index\n"
    assert server.count("/index") == 2


def test_each_fetch_has_a_connection_of_its_own(server, tmp_path):
    f = fetcher()
    for _ in range(3):
        f.get_bytes(server.url + "index")
    f.download(server.url + "file", tmp_path / "out", hashlib.sha256(BODY).hexdigest())
    ports = [r.client_port for r in server.requests]
    assert len(ports) == 4 and len(set(ports)) == 4


def test_a_not_found_is_asked_once(server):
    with pytest.raises(NotFound):
        fetcher().get_bytes(server.url + "missing")
    assert server.count("/missing") == 1


def test_with_no_retries_a_reset_is_reported_at_once_without_a_count(server, tmp_path):
    server.reset("/file", after=100)
    with pytest.raises(FetchError) as caught:
        fetcher(retries=0).download(server.url + "file", tmp_path / "out", hashlib.sha256(BODY).hexdigest())
    assert caught.value.reason == "connection reset by the server"
    assert server.count("/file") == 1
    assert not (tmp_path / "out").exists()


def test_a_redirect_chain_longer_than_the_limit_is_refused(server):
    for hop in range(4):
        server.redirect(f"/hop{hop}", f"/hop{hop + 1}")
    with pytest.raises(FetchError, match=r"too many redirects \(more than 2\)"):
        fetcher(max_redirects=2).get_bytes(server.url + "hop0")
    assert server.count("/hop3") == 0


# Redirects to https: the hop that failed is named beside the URL asked for ---------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.support.requirements import require_tool

    require_tool("openssl")
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secure(tmp_path: Path, tls_cert: tuple[Path, Path], server: FaultServer) -> Iterator[FaultServer]:
    """An https server with the same files as `server`, which redirects /index and /file to it."""
    with FaultServer(tmp_path, tls=tls_cert) as https_server:
        server.redirect("/index", https_server.url + "index")
        server.redirect("/file", https_server.url + "file")
        yield https_server


def test_a_redirect_to_https_with_an_untrusted_certificate_names_that_hop(server, secure):
    with pytest.raises(FetchError) as caught:
        fetcher().get_bytes(server.url + "index")
    message = str(caught.value)
    assert message.startswith(f"{server.url}index: TLS failed: ")
    assert message.endswith(f"(at the redirect target {secure.url}index)")
    assert secure.count("/index") == 0  # the handshake failed: no request reached it


def test_a_redirect_to_https_that_answers_an_error_names_that_hop(server, secure, tls_cert, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    secure.fail("/index", 503)
    with pytest.raises(FetchError) as caught:
        fetcher().get_bytes(server.url + "index")
    assert str(caught.value) == (
        f"{server.url}index: HTTP 503 Service Unavailable (at the redirect target {secure.url}index) (after 3 attempts)"
    )
    assert secure.count("/index") == 3


def test_a_redirect_to_https_whose_body_breaks_off_names_that_hop(server, secure, tls_cert, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    secure.truncate("/file", keep=100)
    with pytest.raises(FetchError) as caught:
        fetcher(retries=0).download(server.url + "file", tmp_path / "out", hashlib.sha256(BODY).hexdigest())
    message = str(caught.value)
    assert message.startswith(f"{server.url}file: connection closed early: IncompleteRead(100 bytes read")
    assert message.endswith(f"(at the redirect target {secure.url}file)")
    assert not (tmp_path / "out").exists()


def test_a_redirect_to_https_that_works_is_followed(server, secure, tls_cert, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    assert fetcher().get_bytes(server.url + "index") == b"an index\n"
    assert secure.count("/index") == 1
