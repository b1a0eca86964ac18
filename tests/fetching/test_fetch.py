"""Fetcher over faked HTTP (responses): status handling, retries, limits, streaming to disk, hashing."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxeimport.fetching import Downloaded, Fetcher, FetchError, FetchSettings, NotFound

URL = "http://mirror.example/dists/bookworm/main/installer-amd64/current/images/"
FAST = FetchSettings(retries=2, backoff=0)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    f = Fetcher(FAST)
    yield f
    f.close()


# get_text -------------------------------------------------------------------------------------


def test_get_text_returns_the_body(http, fetcher):
    http.get(URL + "SHA256SUMS", body="abc  ./linux\n")
    assert fetcher.get_text(URL + "SHA256SUMS") == "abc  ./linux\n"
    assert len(http.calls) == 1


def test_get_text_sends_the_configured_user_agent(http):
    http.get(URL + "SHA256SUMS", body="x")
    Fetcher(FetchSettings(user_agent="pxeimport-test/1")).get_text(URL + "SHA256SUMS")
    assert http.calls[0].request.headers["User-Agent"] == "pxeimport-test/1"


@pytest.mark.parametrize("status", [404, 410])
def test_not_found_is_not_found_with_its_status_and_is_not_retried(http, fetcher, status):
    http.get(URL + "SHA256SUMS", status=status)
    with pytest.raises(NotFound) as caught:
        fetcher.get_text(URL + "SHA256SUMS")
    assert caught.value.status == status
    assert caught.value.url == URL + "SHA256SUMS"
    assert f"HTTP {status}" in str(caught.value)
    assert len(http.calls) == 1


def test_not_found_is_a_fetch_error(http, fetcher):
    http.get(URL + "SHA256SUMS", status=404)
    with pytest.raises(FetchError):
        fetcher.get_text(URL + "SHA256SUMS")


def test_a_server_error_is_retried_then_a_fetch_error_with_its_status(http, fetcher):
    http.get(URL + "SHA256SUMS", status=500)
    with pytest.raises(FetchError) as caught:
        fetcher.get_text(URL + "SHA256SUMS")
    assert not isinstance(caught.value, NotFound)
    assert caught.value.status == 500
    assert "HTTP 500" in str(caught.value)
    assert len(http.calls) == 1 + FAST.retries


def test_a_server_error_followed_by_success_returns_the_body(http, fetcher):
    http.get(URL + "SHA256SUMS", status=503)
    http.get(URL + "SHA256SUMS", status=502)
    http.get(URL + "SHA256SUMS", body="fine")
    assert fetcher.get_text(URL + "SHA256SUMS") == "fine"
    assert [c.response.status_code for c in http.calls] == [503, 502, 200]


def test_a_client_error_other_than_not_found_is_not_retried(http, fetcher):
    http.get(URL + "SHA256SUMS", status=403)
    with pytest.raises(FetchError) as caught:
        fetcher.get_text(URL + "SHA256SUMS")
    assert caught.value.status == 403
    assert len(http.calls) == 1


def test_with_no_retries_a_server_error_is_fetched_once(http):
    http.get(URL + "SHA256SUMS", status=500)
    with pytest.raises(FetchError):
        Fetcher(FetchSettings(retries=0, backoff=0)).get_text(URL + "SHA256SUMS")
    assert len(http.calls) == 1


def test_a_connection_failure_is_a_fetch_error_without_a_status(http, fetcher):
    # Nothing registered: responses refuses the connection.
    with pytest.raises(FetchError) as caught:
        fetcher.get_text(URL + "SHA256SUMS")
    assert caught.value.status is None
    assert caught.value.reason.startswith("connection failed")


def test_an_index_over_the_size_limit_is_refused(http):
    http.get(URL + "SHA256SUMS", body=b"x" * 101)
    with pytest.raises(FetchError, match="index larger than 100 bytes"):
        Fetcher(FetchSettings(max_index_bytes=100)).get_text(URL + "SHA256SUMS")


def test_an_index_exactly_at_the_size_limit_is_accepted(http):
    http.get(URL + "SHA256SUMS", body=b"x" * 100)
    assert Fetcher(FetchSettings(max_index_bytes=100)).get_text(URL + "SHA256SUMS") == "x" * 100


def test_get_bytes_returns_the_body_undecoded(http, fetcher):
    http.get(URL + "SHA256SUMS.gpg", body=b"\x89\x01\xff binary signature")
    assert fetcher.get_bytes(URL + "SHA256SUMS.gpg") == b"\x89\x01\xff binary signature"


def test_an_index_that_is_not_utf8_is_refused(http, fetcher):
    http.get(URL + "SHA256SUMS", body=b"\xff\xfe not text")
    with pytest.raises(FetchError, match="not UTF-8"):
        fetcher.get_text(URL + "SHA256SUMS")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://mirror.example/SHA256SUMS", "mirror.example/x"])
def test_a_url_that_is_not_http_or_https_is_refused_without_a_request(http, fetcher, url):
    with pytest.raises(FetchError, match="is not allowed"):
        fetcher.get_text(url)
    assert len(http.calls) == 0


def test_a_redirect_to_another_scheme_is_refused(http, fetcher):
    http.get(URL + "SHA256SUMS", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(FetchError, match="redirected to a scheme that is not http or https"):
        fetcher.get_text(URL + "SHA256SUMS")


def test_a_redirect_loop_is_a_fetch_error(http, fetcher):
    http.get(URL + "a", status=302, headers={"Location": URL + "b"})
    http.get(URL + "b", status=302, headers={"Location": URL + "a"})
    with pytest.raises(FetchError, match="too many redirects"):
        fetcher.get_text(URL + "a")


def test_an_index_counts_towards_bytes_downloaded(http, fetcher):
    http.get(URL + "SHA256SUMS", body=b"y" * 123)
    fetcher.get_text(URL + "SHA256SUMS")
    assert fetcher.bytes_downloaded == 123


# download -------------------------------------------------------------------------------------


def test_download_streams_the_body_to_dest_and_returns_its_size_and_hash(http, fetcher, tmp_path):
    body = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk
    http.get(URL + "linux", body=body)
    dest = tmp_path / "linux"

    got = fetcher.download(URL + "linux", dest, sha(body))

    assert got == Downloaded(path=dest, size=len(body), sha256=sha(body))
    assert dest.read_bytes() == body


def test_download_creates_dest_0644_whatever_the_umask(http, fetcher, tmp_path):
    http.get(URL + "linux", body=b"kernel")
    old = os.umask(0o077)
    try:
        fetcher.download(URL + "linux", tmp_path / "linux", sha(b"kernel"))
    finally:
        os.umask(old)
    assert (tmp_path / "linux").stat().st_mode & 0o777 == 0o644


def test_download_replaces_an_existing_dest_and_fixes_its_mode(http, fetcher, tmp_path):
    dest = tmp_path / "linux"
    dest.write_bytes(b"a much longer old file that must not leave a tail behind")
    dest.chmod(0o600)
    http.get(URL + "linux", body=b"new")
    fetcher.download(URL + "linux", dest, sha(b"new"))
    assert dest.read_bytes() == b"new"
    assert dest.stat().st_mode & 0o777 == 0o644


def test_a_hash_mismatch_is_a_fetch_error_removes_dest_and_is_not_retried(http, fetcher, tmp_path):
    http.get(URL + "initrd.gz", body=b"corrupted on the mirror")
    dest = tmp_path / "initrd.gz"
    with pytest.raises(FetchError) as caught:
        fetcher.download(URL + "initrd.gz", dest, sha(b"the real initrd"))
    assert "SHA-256 mismatch" in str(caught.value)
    assert sha(b"corrupted on the mirror") in str(caught.value)
    assert not dest.exists()
    assert len(http.calls) == 1


def test_a_body_over_the_file_limit_is_refused_and_dest_removed(http, tmp_path):
    body = b"z" * 1001
    http.get(URL + "linux", body=body)
    fetcher = Fetcher(FetchSettings(retries=2, backoff=0, max_file_bytes=1000))
    dest = tmp_path / "linux"
    with pytest.raises(FetchError, match="body exceeds the limit of 1000 bytes"):
        fetcher.download(URL + "linux", dest, sha(body))
    assert not dest.exists()
    assert len(http.calls) == 1


def test_a_body_exactly_at_the_file_limit_is_accepted(http, tmp_path):
    body = b"z" * 1000
    http.get(URL + "linux", body=body)
    fetcher = Fetcher(FetchSettings(retries=0, backoff=0, max_file_bytes=1000))
    assert fetcher.download(URL + "linux", tmp_path / "linux", sha(body)).size == 1000


def test_a_content_length_over_the_limit_is_refused_before_anything_is_written(http, tmp_path):
    http.get(URL + "linux", body=b"small", headers={"Content-Length": "5000000000"})
    fetcher = Fetcher(FetchSettings(retries=2, backoff=0, max_file_bytes=1000))
    dest = tmp_path / "linux"
    with pytest.raises(FetchError, match="Content-Length 5000000000 exceeds the limit of 1000 bytes"):
        fetcher.download(URL + "linux", dest, sha(b"small"))
    assert not dest.exists()
    assert fetcher.bytes_downloaded == 0
    assert len(http.calls) == 1


def test_a_failed_download_removes_a_dest_that_existed_before(http, fetcher, tmp_path):
    dest = tmp_path / "linux"
    dest.write_bytes(b"leftover")
    http.get(URL + "linux", status=404)
    with pytest.raises(NotFound):
        fetcher.download(URL + "linux", dest, sha(b"x"))
    assert not dest.exists()


def test_a_truncated_body_is_retried_and_the_second_attempt_wins(http, fetcher, tmp_path):
    body = b"k" * 100
    http.get(URL + "linux", body=body[:10], headers={"Content-Length": "100"})
    http.get(URL + "linux", body=body, headers={"Content-Length": "100"})
    got = fetcher.download(URL + "linux", tmp_path / "linux", sha(body))
    assert got.size == 100
    assert (tmp_path / "linux").read_bytes() == body
    assert len(http.calls) == 2


def test_a_body_truncated_on_every_attempt_fails_after_all_attempts(http, fetcher, tmp_path):
    http.get(URL + "linux", body=b"k" * 10, headers={"Content-Length": "100"})
    dest = tmp_path / "linux"
    with pytest.raises(FetchError, match=r"after 3 attempts"):
        fetcher.download(URL + "linux", dest, sha(b"k" * 100))
    assert not dest.exists()
    assert len(http.calls) == 3


def test_a_server_error_on_download_is_retried_by_the_adapter(http, fetcher, tmp_path):
    http.get(URL + "linux", status=500)
    http.get(URL + "linux", body=b"kernel")
    assert fetcher.download(URL + "linux", tmp_path / "linux", sha(b"kernel")).size == 6
    assert len(http.calls) == 2


def test_download_refuses_a_url_that_is_not_http(http, fetcher, tmp_path):
    with pytest.raises(FetchError, match="scheme 'file' is not allowed"):
        fetcher.download("file:///etc/shadow", tmp_path / "x", sha(b""))
    assert not (tmp_path / "x").exists()
    assert len(http.calls) == 0


def test_bytes_downloaded_counts_every_file_and_index(http, fetcher, tmp_path):
    http.get(URL + "SHA256SUMS", body=b"i" * 7)
    http.get(URL + "linux", body=b"l" * 11)
    http.get(URL + "initrd.gz", body=b"r" * 13)
    fetcher.get_text(URL + "SHA256SUMS")
    fetcher.download(URL + "linux", tmp_path / "linux", sha(b"l" * 11))
    fetcher.download(URL + "initrd.gz", tmp_path / "initrd.gz", sha(b"r" * 13))
    assert fetcher.bytes_downloaded == 7 + 11 + 13


def test_bytes_downloaded_counts_a_body_that_failed_its_hash(http, fetcher, tmp_path):
    http.get(URL + "linux", body=b"l" * 11)
    with pytest.raises(FetchError):
        fetcher.download(URL + "linux", tmp_path / "linux", sha(b"other"))
    assert fetcher.bytes_downloaded == 11


def test_a_gz_file_served_with_content_encoding_gzip_is_saved_byte_for_byte(http, fetcher, tmp_path):
    stored = gzip.compress(b"an initrd cpio archive " * 500)
    http.get(
        URL + "initrd.gz",
        body=stored,
        headers={"Content-Encoding": "gzip", "Content-Length": str(len(stored))},
    )
    dest = tmp_path / "initrd.gz"
    got = fetcher.download(URL + "initrd.gz", dest, sha(stored))
    assert dest.read_bytes() == stored
    assert got.size == len(stored)


def test_downloaded_files_land_where_asked_and_nowhere_else(http, fetcher, tmp_path):
    http.get(URL + "linux", body=b"kernel")
    (tmp_path / "staging").mkdir()
    fetcher.download(URL + "linux", tmp_path / "staging" / "linux", sha(b"kernel"))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        Path("staging"),
        Path("staging/linux"),
    ]
