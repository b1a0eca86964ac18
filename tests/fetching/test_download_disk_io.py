"""What a download costs the disk, counted without a clock (issue 13): each byte written once, in
writes of at most WRITE_SIZE (a 1 MiB write asks the page cache for 1 MiB folios, which a VM
with free page reporting must fault in from its host), nothing read back from a file that came
in one stream, and the SHA-256 computed on its own thread, beside the writes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pxeimport.fetching import Fetcher, FetchError, FetchSettings
from pxeimport.lib.files import WRITE_SIZE
from pxeimport.lib.streamdigest import QUEUE_CHUNKS, StreamDigest
from tools.faultserver import FaultServer

MiB = 1 << 20
BODY = os.urandom(6 * MiB + 12345)
SHA = hashlib.sha256(BODY).hexdigest()
REAL_SHA256 = hashlib.sha256
SETTINGS = FetchSettings(read_timeout=5, retries=0, backoff=0.01, split_min_bytes=MiB, split_piece_bytes=256 << 10)


@dataclasses.dataclass
class DiskIO:
    """Every os-level write and read of files whose name contains `name`, by size."""

    name: str
    writes: list[int] = dataclasses.field(default_factory=list)
    reads: list[int] = dataclasses.field(default_factory=list)
    writers: set[int] = dataclasses.field(default_factory=set)  # the threads that wrote

    def ours(self, fd: int) -> bool:
        try:
            return self.name in os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return False


@pytest.fixture
def disk_io(monkeypatch: pytest.MonkeyPatch) -> DiskIO:
    seen = DiskIO(SHA)
    real = {name: getattr(os, name) for name in ("write", "pwrite", "read", "pread")}

    def counted(name: str, into: list[int]) -> Any:
        def call(fd: int, *args: Any) -> Any:
            result = real[name](fd, *args)
            if seen.ours(fd):
                into.append(result if isinstance(result, int) else len(result))
                if into is seen.writes:
                    seen.writers.add(threading.get_ident())
            return result

        return call

    for name in ("write", "pwrite"):
        monkeypatch.setattr(os, name, counted(name, seen.writes))
    for name in ("read", "pread"):
        monkeypatch.setattr(os, name, counted(name, seen.reads))
    return seen


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """The mirror's directory (big.iso: BODY) and an empty staging directory."""
    mirror, staging = tmp_path / "mirror", tmp_path / "maas" / ".staging"
    for path in (mirror, staging):
        path.mkdir(parents=True)
    (mirror / "big.iso").write_bytes(BODY)
    return mirror, staging


def download(dirs: tuple[Path, Path], *, ranges: bool, rate: int = 0, **settings: Any) -> None:
    served, staging = dirs
    fetcher = Fetcher(dataclasses.replace(SETTINGS, **settings))
    with FaultServer(served, ranges=ranges, rate=rate) as server:
        done = fetcher.download(server.url + "big.iso", staging / SHA, SHA)
    assert (done.size, done.sha256) == (len(BODY), SHA)
    assert (staging / SHA).read_bytes() == BODY


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"ranges": False}, id="one-stream"),
        pytest.param({"ranges": True, "split_below_rate": 1}, id="preallocated-unsplit"),
    ],
)
def test_a_file_in_one_stream_is_written_once_in_small_writes_and_never_read_back(dirs, disk_io, how):
    download(dirs, **how)

    assert sum(disk_io.writes) == len(BODY)
    assert max(disk_io.writes) <= WRITE_SIZE
    assert disk_io.reads == []


@pytest.mark.parametrize("ranges", [False, True], ids=["one-stream", "preallocated-unsplit"])
def test_a_download_is_hashed_on_another_thread_than_the_one_writing_it(dirs, disk_io, monkeypatch, ranges):
    made: list[RecordingDigest] = []

    def sha256(*args: Any) -> RecordingDigest:
        made.append(RecordingDigest())
        return made[-1]

    monkeypatch.setattr(hashlib, "sha256", sha256)
    download(dirs, ranges=ranges, split_below_rate=1)

    fed = set().union(*(digest.threads for digest in made))
    assert fed and disk_io.writers and not fed & disk_io.writers


def test_a_file_in_segments_is_written_once_in_small_writes_and_read_back_at_most_once(dirs, disk_io):
    download(dirs, ranges=True, rate=4 * MiB, max_connections=4, split_below_rate=1 << 40)

    assert sum(disk_io.writes) <= len(BODY) + 4 * MiB  # a piece's overlap at most, never the file twice
    assert max(disk_io.writes) <= WRITE_SIZE
    assert sum(disk_io.reads) < len(BODY)  # the bytes not hashed as they came, once


class RecordingDigest:
    """A SHA-256 that notes which thread fed it and can be held up."""

    def __init__(self) -> None:
        self.inner = REAL_SHA256()
        self.threads: set[int] = set()
        self.go = threading.Event()
        self.go.set()
        self.fail = False

    def update(self, data: bytes) -> None:
        self.go.wait(5)
        self.threads.add(threading.get_ident())
        if self.fail:
            raise MemoryError("digest broke")
        self.inner.update(data)

    def hexdigest(self) -> str:
        return self.inner.hexdigest()


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_the_stream_digest_is_hashlibs_sha256_of_the_bytes_in_order_whatever_the_chunks():
    for size, length in ((1, 5000), (4096, 2 * MiB + 7), (100_000, 2 * MiB + 7), (MiB, len(BODY))):
        digest = StreamDigest()
        for chunk in chunks(BODY[:length], size):
            digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(BODY[:length]).hexdigest()
    empty = StreamDigest()
    assert empty.hexdigest() == hashlib.sha256().hexdigest()


def test_the_stream_digest_continues_a_prefix_and_copies_a_buffer_the_caller_reuses():
    prefix = hashlib.sha256(b"kept ")
    digest = StreamDigest(prefix)
    buffer = bytearray(b"abc")
    digest.update(buffer)
    buffer[:] = b"xyz"  # reused before the thread got to it
    digest.update(memoryview(b"def"))
    assert digest.hexdigest() == hashlib.sha256(b"kept abcdef").hexdigest()


def test_the_stream_digest_hashes_on_a_thread_of_its_own_and_holds_at_most_a_few_chunks():
    inner = RecordingDigest()
    digest = StreamDigest(inner)  # type: ignore[arg-type]
    inner.go.clear()  # the hash thread is held up: the queue fills
    handed = 0

    def feed() -> None:
        nonlocal handed
        for chunk in chunks(BODY, MiB):
            digest.update(chunk)
            handed += 1

    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join(0.5)
    assert feeder.is_alive()  # update blocks while the queue is full: memory stays flat
    assert handed <= QUEUE_CHUNKS + 1  # the queue's chunks and the one the thread holds
    inner.go.set()
    feeder.join(5)
    assert digest.hexdigest() == SHA
    assert inner.threads and threading.get_ident() not in inner.threads and feeder.ident not in inner.threads


def test_the_stream_digest_raises_the_threads_error_and_refuses_updates_after_close():
    inner = RecordingDigest()
    inner.fail = True
    digest = StreamDigest(inner)  # type: ignore[arg-type]
    digest.update(b"x" * 4096)
    with pytest.raises(MemoryError):
        digest.hexdigest()
    closed = StreamDigest()
    closed.close()
    with pytest.raises(ValueError):
        closed.update(b"late")


def test_a_failed_download_leaves_no_hash_thread_behind(dirs):
    served, staging = dirs
    fetcher = Fetcher(dataclasses.replace(SETTINGS, split_min_bytes=len(BODY) + 1))
    with FaultServer(served) as server:
        with pytest.raises(FetchError, match="SHA-256 mismatch"):
            fetcher.download(server.url + "big.iso", staging / "x", "0" * 64)
        server.reset("big.iso", after=3 * MiB)
        with pytest.raises(FetchError):
            fetcher.download(server.url + "big.iso", staging / "y", SHA)
    assert not [t for t in threading.enumerate() if t.name == "pxeimport-sha256"]
