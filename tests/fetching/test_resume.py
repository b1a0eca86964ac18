"""Resumable downloads over a real loopback server: a cut-off download continues with Range + If-Range
on the next run, starts over when the file changed or the server ignores ranges, and a damaged
partial is never installed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from pxeimport.fetching import Fetcher, FetchError, FetchSettings
from pxeimport.fetching.resume import content_range, remove_stale, validator
from tools.faultserver import FaultServer

BODY = os.urandom(3 << 20)  # 3 MiB: several 1 MiB chunks
SHA = hashlib.sha256(BODY).hexdigest()
CUT = len(BODY) * 6 // 10
# Resume whatever the size: these files are small.
FAST = FetchSettings(read_timeout=2, retries=0, backoff=0.01, resume_min_bytes=0)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "mirror"
    directory.mkdir()
    (directory / "live.iso").write_bytes(BODY)
    return directory


@pytest.fixture
def server(served: Path) -> Iterator[FaultServer]:
    with FaultServer(served, ranges=True) as fault_server:
        yield fault_server


@pytest.fixture
def partial_dir(tmp_path: Path) -> Path:
    return tmp_path / "maas" / ".partial"


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    path = tmp_path / "maas" / ".staging"
    path.mkdir(parents=True)
    return path


def fetcher(**overrides: Any) -> Fetcher:
    return Fetcher(dataclasses.replace(FAST, **overrides))


def cut_off_run(server: FaultServer, staging: Path, partial_dir: Path) -> None:
    """A first run whose download breaks off at 60 %."""
    server.truncate("/live.iso", keep=CUT, times=1)
    with pytest.raises(FetchError, match="connection closed early"):
        fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert not (staging / SHA).exists()
    assert (partial_dir / SHA).stat().st_size == CUT
    server.clear()


def test_a_download_cut_at_60_percent_resumes_and_the_second_run_transfers_only_the_rest(server, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)
    assert partial_dir.stat().st_mode & 0o777 == 0o700
    meta = json.loads((partial_dir / f"{SHA}.json").read_text())
    assert meta["url"] == server.url + "live.iso" and meta["total"] == len(BODY) and meta["validator"].startswith('"')

    second = fetcher()
    done = second.download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)

    assert (done.path, done.size, done.sha256) == (staging / SHA, len(BODY), SHA)
    assert (staging / SHA).read_bytes() == BODY
    assert (staging / SHA).stat().st_mode & 0o777 == 0o644
    [request] = server.requests
    assert (request.range, request.status, request.bytes_sent) == (f"bytes={CUT}-", 206, len(BODY) - CUT)
    assert second.bytes_downloaded == len(BODY) - CUT
    assert list(partial_dir.iterdir()) == []  # a completed, verified file leaves no partial


def test_a_cut_off_download_resumes_within_the_same_run_when_retries_are_left(server, staging, partial_dir):
    server.truncate("/live.iso", keep=CUT, times=1)
    f = fetcher(retries=1)
    f.download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert [(r.range, r.status) for r in server.requests] == [("", 200), (f"bytes={CUT}-", 206)]
    assert f.bytes_downloaded == len(BODY)
    assert (staging / SHA).read_bytes() == BODY


def test_a_changed_file_with_a_new_etag_is_downloaded_again_from_byte_0(server, served, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)
    os.utime(served / "live.iso", ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # republished

    fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)

    [request] = server.requests
    assert (request.range, request.status, request.bytes_sent) == (f"bytes={CUT}-", 200, len(BODY))
    assert (staging / SHA).read_bytes() == BODY
    assert list(partial_dir.iterdir()) == []


def test_a_server_ignoring_range_is_downloaded_again_cleanly(server, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)
    server.whole("/live.iso")

    done = fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)

    [request] = server.requests
    assert (request.status, request.bytes_sent, request.fault) == (200, len(BODY), "whole")
    assert done.sha256 == SHA and (staging / SHA).read_bytes() == BODY


def test_a_damaged_partial_fails_its_hash_is_discarded_and_never_installed(server, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)
    with open(partial_dir / SHA, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 64)  # a bad sector, a crash: the kept prefix no longer is upstream's

    with pytest.raises(FetchError, match=rf"SHA-256 mismatch: index says {SHA}.* after resuming at byte {CUT}"):
        fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert not (staging / SHA).exists()
    assert list(partial_dir.iterdir()) == []

    fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert [r.range for r in server.requests] == [f"bytes={CUT}-", ""]  # the next try starts from byte 0
    assert (staging / SHA).read_bytes() == BODY


def test_with_a_retry_left_a_damaged_partial_is_replaced_by_a_whole_download_in_the_same_run(
    server, staging, partial_dir
):
    cut_off_run(server, staging, partial_dir)
    (partial_dir / SHA).write_bytes(b"x" * CUT)
    fetcher(retries=1).download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert [(r.range, r.status) for r in server.requests] == [(f"bytes={CUT}-", 206), ("", 200)]
    assert (staging / SHA).read_bytes() == BODY


def test_a_wrong_file_from_byte_0_discards_the_partial(server, served, staging, partial_dir):
    (served / "live.iso").write_bytes(b"tampered" * 1000)
    with pytest.raises(FetchError, match="SHA-256 mismatch"):
        fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert list(partial_dir.iterdir()) == []


def test_a_partial_complete_when_the_run_was_killed_is_installed_without_a_request(server, staging, partial_dir):
    def stop_at_the_end(size: int, total: int | None) -> None:
        if size == total:
            raise KeyboardInterrupt  # killed after the last byte, before the rename

    with pytest.raises(KeyboardInterrupt):
        fetcher().download(server.url + "live.iso", staging / SHA, SHA, stop_at_the_end, partial_dir=partial_dir)
    assert (partial_dir / SHA).stat().st_size == len(BODY)
    server.clear()

    done = fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert done.sha256 == SHA and server.requests == []
    assert list(partial_dir.iterdir()) == []


def test_a_partial_for_another_url_is_not_continued(server, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)
    meta = partial_dir / f"{SHA}.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "url": "http://other.example/live.iso"}))
    fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert [(r.range, r.status) for r in server.requests] == [("", 200)]


def test_a_partial_shorter_than_it_was_resumes_from_its_real_length(server, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)
    os.truncate(partial_dir / SHA, CUT - 10)
    fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert server.requests[0].range == f"bytes={CUT - 10}-"
    assert (staging / SHA).read_bytes() == BODY


def test_a_206_from_another_byte_than_asked_is_not_appended_and_the_partial_is_discarded(server, staging, partial_dir):
    cut_off_run(server, staging, partial_dir)

    def from_byte_0(h: Any, body: bytes | None) -> None:
        assert body is not None
        h._answer(206, body, {"Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}"})

    server._add("/live.iso", "wrong range", from_byte_0, 1)
    with pytest.raises(FetchError, match=rf"asked for bytes {CUT}- of {len(BODY)}, got 'bytes 0-"):
        fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert list(partial_dir.iterdir()) == []
    assert not (staging / SHA).exists()


def test_a_run_that_stops_keeps_its_partial_for_the_next(server, staging, partial_dir):
    f = fetcher()

    def stop_past_the_cut(size: int, total: int | None) -> None:
        if size >= CUT:
            f.cancel()

    with pytest.raises(FetchError, match="cancelled"):
        f.download(server.url + "live.iso", staging / SHA, SHA, stop_past_the_cut, partial_dir=partial_dir)
    kept = (partial_dir / SHA).stat().st_size
    assert CUT <= kept < len(BODY)
    server.clear()
    fetcher().download(server.url + "live.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert [r.range for r in server.requests] == [f"bytes={kept}-"]


def test_the_validator_is_a_strong_etag_else_a_last_modified_a_second_older_than_the_date():
    def headers(**values: str) -> CaseInsensitiveDict[str]:
        return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})

    lm = "Sat, 01 Nov 2025 10:00:00 GMT"
    assert validator(headers(ETag='"abc"', Last_Modified=lm)) == '"abc"'
    assert validator(headers(ETag='W/"abc"', Last_Modified=lm, Date="Sat, 01 Nov 2025 10:00:01 GMT")) == lm
    assert validator(headers(Last_Modified=lm, Date=lm)) is None  # could change within that second
    assert validator(headers(Last_Modified=lm)) is None
    assert validator(headers()) is None


def test_content_range_is_parsed_strictly():
    assert content_range("bytes 10-99/100") == (10, 100)
    assert content_range("bytes 10-99/*") == (10, None)
    assert content_range("bytes */100") is None
    assert content_range(None) is None


def test_remove_stale_keeps_wanted_fresh_pairs_and_removes_the_rest(tmp_path):
    keep, old, unwanted, orphan = (hashlib.sha256(n.encode()).hexdigest() for n in ("keep", "old", "gone", "x"))
    for sha in (keep, old, unwanted):
        (tmp_path / sha).write_bytes(b"part")
        (tmp_path / f"{sha}.json").write_text("{}")
    (tmp_path / orphan).write_bytes(b"no sidecar")
    (tmp_path / ".x.json.new-0123abcd").write_text("debris")
    week_ago = time.time() - 8 * 86400
    os.utime(tmp_path / old, (week_ago, week_ago))

    removed = remove_stale(tmp_path, wanted={keep, old}, max_age_seconds=7 * 86400)

    assert sorted(p.name for p in removed) == sorted(
        [old, f"{old}.json", unwanted, f"{unwanted}.json", orphan, ".x.json.new-0123abcd"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([keep, f"{keep}.json"])
    assert remove_stale(tmp_path, wanted=None, max_age_seconds=0) == [tmp_path / keep, tmp_path / f"{keep}.json"]
    assert remove_stale(tmp_path / "missing", wanted=None, max_age_seconds=0) == []
