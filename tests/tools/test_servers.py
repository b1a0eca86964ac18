"""The loopback servers' `max_concurrent` counts what a client could have in flight, no more.

The budget tests assert it equals the budget. A handler thread that is slow to run after its last
write (a loaded 2-core CI machine) must not make a client that already read the whole answer, let
its connection go and asked again look one over its budget (CI saw 4 with a budget of 3).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tools import faultserver, httpserver

BODY = b"x" * (200 * 1024)


@contextmanager
def slow_after_writing(handler: type[Any], method: str) -> Iterator[None]:
    """`method` (what writes a body) returns, then the handler's thread waits 0.3 s, as a descheduled
    thread does."""
    original = getattr(handler, method)

    def slow(self: Any, *args: Any) -> None:
        original(self, *args)
        time.sleep(0.3)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handler, method, slow)
        yield


def fetch_one_after_another(url: str) -> None:
    for name in ("a", "b", "c"):
        with urllib.request.urlopen(url + name, timeout=10) as answer:
            assert answer.read() == BODY


@pytest.mark.parametrize("kind", ["archive server", "fault server"])
def test_a_client_asking_again_after_a_whole_answer_is_never_counted_twice(tmp_path, kind):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(BODY)
    if kind == "archive server":
        server: Any = httpserver.ArchiveServer(tmp_path)
        slow = slow_after_writing(httpserver._Handler, "copyfile")
    else:
        server = faultserver.FaultServer(tmp_path)
        slow = slow_after_writing(faultserver._Handler, "_send")
    with slow, server:
        fetch_one_after_another(server.url)
        assert server.max_concurrent == 1


def test_requests_that_really_overlap_are_all_counted(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(BODY)
    with faultserver.FaultServer(tmp_path) as server:
        server.hold("/a")
        server.hold("/b")
        threads = [threading.Thread(target=fetch_one_after_another, args=(server.url,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while server.max_concurrent < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.release()
        for thread in threads:
            thread.join(timeout=30)
        assert server.max_concurrent == 2
