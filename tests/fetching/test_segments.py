"""Big files in Range segments over a real loopback server: the whole connection budget used and never
exceeded, the bytes exact, a server ignoring ranges or a file changing mid-download falling back to
one stream, a cut-off segment continued, and memory that does not grow with the file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pxeimport.fetching import Fetcher, FetchError, FetchSettings
from pxeimport.fetching.pieces import Pieces
from tools.faultserver import FaultServer

MiB = 1 << 20
BODY = os.urandom(8 * MiB)
SHA = hashlib.sha256(BODY).hexdigest()
SMALL = os.urandom(96 << 10)
SMALL_SHA = hashlib.sha256(SMALL).hexdigest()
# Split anything from 1 MiB, in pieces of at least 256 KiB.
SPLIT = FetchSettings(read_timeout=5, retries=0, backoff=0.01, split_min_bytes=MiB, split_piece_bytes=256 << 10)
RATE = 4 * MiB  # per connection: one stream would take 2 s for BODY


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "mirror"
    directory.mkdir()
    (directory / "big.iso").write_bytes(BODY)
    for n in range(6):
        (directory / f"small{n}").write_bytes(SMALL)
    return directory


@pytest.fixture
def server(served: Path) -> Iterator[FaultServer]:
    with FaultServer(served, ranges=True, rate=RATE) as fault_server:
        yield fault_server


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    path = tmp_path / "maas" / ".staging"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def partial_dir(tmp_path: Path) -> Path:
    return tmp_path / "maas" / ".partial"


def fetcher(**overrides: Any) -> Fetcher:
    return Fetcher(dataclasses.replace(SPLIT, **overrides))


def ranged(server: FaultServer, path: str = "/big.iso") -> list[str]:
    """The Range headers `path` was asked with, in order of arrival."""
    return [r.range for r in server.matching(path) if r.range]


def test_a_big_file_comes_in_range_segments_over_the_whole_budget_byte_exact(server, staging):
    fetch = fetcher(max_connections=4)

    done = fetch.download(server.url + "big.iso", staging / SHA, SHA)

    assert (done.size, done.sha256) == (len(BODY), SHA)
    assert (staging / SHA).read_bytes() == BODY
    assert (staging / SHA).stat().st_mode & 0o777 == 0o644
    asked = ranged(server)
    assert len(asked) >= 3 and all(a.startswith("bytes=") and not a.endswith("-") for a in asked)
    assert all(r.status == 206 for r in server.matching("/big.iso") if r.range)
    assert server.max_concurrent == 4
    assert fetch.budgets(server.url).most == 4
    # Pieces overlap by at most the chunk read past a piece's new end; never the whole file twice.
    assert sum(r.bytes_sent for r in server.matching("/big.iso")) < len(BODY) + 4 * MiB


def test_a_file_below_the_threshold_or_from_a_server_without_ranges_rides_one_connection(served, staging):
    with FaultServer(served, ranges=True) as server:
        fetcher(split_min_bytes=len(BODY) + 1).download(server.url + "big.iso", staging / SHA, SHA)
        assert ranged(server) == [] and server.count("/big.iso") == 1
    (staging / SHA).unlink()
    with FaultServer(served, ranges=False) as server:
        fetcher().download(server.url + "big.iso", staging / SHA, SHA)
        assert ranged(server) == [] and server.count("/big.iso") == 1
    assert (staging / SHA).read_bytes() == BODY


def test_a_first_stream_faster_than_the_split_rate_is_not_split(server, staging):
    fetch = fetcher(max_connections=4, split_below_rate=RATE // 4)  # the stream runs at RATE

    fetch.download(server.url + "big.iso", staging / SHA, SHA)

    assert (staging / SHA).read_bytes() == BODY
    assert ranged(server) == [] and server.count("/big.iso") == 1 and fetch.budgets(server.url).most == 1


def test_a_server_answering_200_to_a_range_is_fetched_as_one_stream_and_not_split_again(server, staging):
    server.whole("/big.iso")  # Accept-Ranges: bytes and an ETag, but every GET gets 200 and the whole file
    fetch = fetcher(max_connections=4)

    fetch.download(server.url + "big.iso", staging / SHA, SHA)

    assert (staging / SHA).read_bytes() == BODY
    big = server.matching("/big.iso")
    assert any(r.range and r.status == 200 for r in big)
    assert not big[-1].range and big[-1].status == 200  # the fallback: one stream, from byte 0
    server.clear()
    (staging / SHA).unlink()
    fetch.download(server.url + "big.iso", staging / SHA, SHA)
    assert ranged(server) == [] and server.count("/big.iso") == 1


def test_a_file_touched_upstream_mid_download_is_fetched_again_whole_by_if_range(server, served, staging):
    touched = threading.Event()

    def touch(done: int, total: int | None) -> None:
        if not touched.is_set():
            os.utime(served / "big.iso", ns=(0, 1_000_000_000_000_000_000))  # a new mtime: a new ETag
            touched.set()

    fetcher(max_connections=4).download(server.url + "big.iso", staging / SHA, SHA, touch)

    assert (staging / SHA).read_bytes() == BODY
    big = server.matching("/big.iso")
    assert any(r.range and r.status == 200 for r in big)  # If-Range named the old ETag
    assert not big[-1].range


def test_a_file_changed_upstream_mid_download_fails_its_hash_and_leaves_nothing(server, served, staging, partial_dir):
    changed = threading.Event()

    def change(done: int, total: int | None) -> None:
        if not changed.is_set():
            changed.set()
            replacement = served / "big.iso.new"
            replacement.write_bytes(bytes(len(BODY)))
            replacement.replace(served / "big.iso")  # as a mirror publishes: a new file, renamed

    with pytest.raises(FetchError, match="SHA-256 mismatch"):
        fetcher().download(server.url + "big.iso", staging / SHA, SHA, change, partial_dir=partial_dir)

    assert not (staging / SHA).exists()
    assert list(partial_dir.iterdir()) == []


def test_a_segment_cut_off_goes_to_another_connection_within_the_attempt(server, staging):
    server.cut_range("/big.iso", after=100_000, times=1)

    fetcher(max_connections=4, retries=1).download(server.url + "big.iso", staging / SHA, SHA)

    assert (staging / SHA).read_bytes() == BODY
    assert [r.fault for r in server.matching("/big.iso")].count("cut range") == 1


def test_a_run_stopped_mid_download_keeps_each_segments_progress_and_the_next_run_asks_only_for_the_rest(
    server, staging, partial_dir
):
    first = fetcher(max_connections=4)

    def stop_at_half(done: int, total: int | None) -> None:
        if done >= len(BODY) // 2:
            first.cancel()

    with pytest.raises(FetchError, match="cancelled"):
        first.download(server.url + "big.iso", staging / SHA, SHA, stop_at_half, partial_dir=partial_dir)
    meta = json.loads((partial_dir / f"{SHA}.json").read_text())
    pieces = Pieces.load(meta["segments"], len(BODY), 1)
    assert pieces is not None and len(meta["segments"]) >= 2
    kept = pieces.written
    assert kept >= len(BODY) // 2 and (partial_dir / SHA).stat().st_size == len(BODY)
    server.clear()

    done = fetcher(max_connections=4).download(server.url + "big.iso", staging / SHA, SHA, partial_dir=partial_dir)

    assert done.sha256 == SHA and (staging / SHA).read_bytes() == BODY
    second = server.matching("/big.iso")
    assert second and all(r.range and r.status == 206 for r in second)
    assert sum(r.bytes_sent for r in second) < len(BODY) - kept + 4 * MiB
    assert list(partial_dir.iterdir()) == []


def test_a_segmented_partial_whose_file_is_damaged_is_discarded_not_installed(server, staging, partial_dir):
    first = fetcher(max_connections=4)

    def stop_at_half(done: int, total: int | None) -> None:
        if done >= len(BODY) // 2:
            first.cancel()

    with pytest.raises(FetchError):
        first.download(server.url + "big.iso", staging / SHA, SHA, stop_at_half, partial_dir=partial_dir)
    with open(partial_dir / SHA, "r+b") as f:
        f.write(b"\xff" * 4096)  # bytes recorded as written, now wrong

    with pytest.raises(FetchError, match="SHA-256 mismatch"):
        fetcher(max_connections=4).download(server.url + "big.iso", staging / SHA, SHA, partial_dir=partial_dir)
    assert not (staging / SHA).exists() and list(partial_dir.iterdir()) == []


def test_files_and_segments_share_one_budget_that_is_never_exceeded_and_small_files_come_first(server, staging):
    fetch = fetcher(max_connections=3)
    finished: list[str] = []

    def get(name: str, sha: str) -> None:
        fetch.download(server.url + name, staging / name, sha)
        finished.append(name)

    big = threading.Thread(target=get, args=("big.iso", SHA))
    big.start()
    assert server.wait_for("/big.iso", 3)  # the big file has spread over the spare connections
    smalls = [threading.Thread(target=get, args=(f"small{n}", SMALL_SHA)) for n in range(6)]
    for thread in smalls:
        thread.start()
    for thread in [big, *smalls]:
        thread.join(timeout=60)

    assert (staging / "big.iso").read_bytes() == BODY
    assert all((staging / f"small{n}").read_bytes() == SMALL for n in range(6))
    assert server.max_concurrent == 3 and fetch.budgets(server.url).most == 3
    assert finished[-1] == "big.iso"  # segments gave their connections to the waiting files


def test_memory_does_not_grow_with_the_file(served, staging):
    big = os.urandom(32 * MiB)
    (served / "bigger.iso").write_bytes(big)
    sha = hashlib.sha256(big).hexdigest()
    with FaultServer(served, ranges=True, rate=8 * MiB) as server:
        tracemalloc.start()
        try:
            fetcher(max_connections=4).download(server.url + "bigger.iso", staging / sha, sha)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(ranged(server, "/bigger.iso")) >= 1
    assert (staging / sha).stat().st_size == len(big)
    assert peak < 12 * MiB  # a few 1 MiB chunks per connection, not the 32 MiB file


def test_pieces_are_asked_for_half_at_a_time_and_split_only_past_what_was_asked():
    pieces = Pieces.load([[0, 64 * MiB, 0]], 64 * MiB, MiB, 8 * MiB)
    assert pieces is not None
    first = pieces.take()
    assert first is not None and (first.start, first.end) == (0, 64 * MiB)
    assert pieces.ask(first) == (0, 8 * MiB - 1)  # half of what is missing, at most 8 MiB
    assert pieces.claim(first, 16 * MiB) == (0, 8 * MiB)  # cut at what was asked
    pieces.wrote(first)

    tail = pieces.take()

    assert tail is not None and (tail.start, tail.end) == (36 * MiB, 64 * MiB)  # half of [8 MiB, 64 MiB)
    assert first.end == tail.start and tail.start % (64 << 10) == 0
    assert pieces.record() == [[0, 36 * MiB, 8 * MiB], [36 * MiB, 64 * MiB, 36 * MiB]]
    pieces.give_back(first)
    again = pieces.take()
    assert again is first and pieces.ask(first) == (8 * MiB, 16 * MiB - 1)


def test_an_answer_to_the_end_of_the_file_may_be_split_anywhere_past_what_was_written():
    pieces = Pieces.load([[0, 8 * MiB, 0]], 8 * MiB, MiB)
    assert pieces is not None
    first = pieces.take(open_ended=True)
    assert first is not None and pieces.claim(first, MiB) == (0, MiB)
    pieces.wrote(first)

    tail = pieces.take()

    assert tail is not None and (tail.start, tail.end) == (4608 << 10, 8 * MiB)
    assert pieces.claim(first, 8 * MiB) == (MiB, (4608 << 10) - MiB)  # cut at its new end
    assert pieces.splittable() and pieces.take() is not None


def test_a_sidecars_segments_must_cover_the_file_in_order():
    assert Pieces.load([[0, 10, 5], [10, 20, 12]], 20, 1) is not None
    assert Pieces.load([[0, 10, 5], [11, 20, 11]], 20, 1) is None  # a gap
    assert Pieces.load([[0, 10, 11]], 10, 1) is None  # more written than the piece holds
    assert Pieces.load([[0, 10, 10]], 20, 1) is None  # does not reach the end
    assert Pieces.load([[0, 10, "5"]], 10, 1) is None
    assert Pieces.load("0-10", 10, 1) is None
