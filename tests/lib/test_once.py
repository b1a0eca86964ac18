"""Once: a value computed once per key, however many threads ask at the same moment."""

from __future__ import annotations

import threading
import time

import pytest

from pxeimport.lib import Once


def test_threads_asking_for_one_key_at_once_share_a_single_computation():
    once: Once[str, int] = Once()
    calls = []
    barrier = threading.Barrier(8)

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)  # the others arrive while this runs
        return 42

    results: list[int] = []

    def ask() -> None:
        barrier.wait()
        results.append(once.get("InRelease", compute))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(calls), results) == (1, [42] * 8)


def test_different_keys_are_computed_separately():
    once: Once[str, str] = Once()
    assert (once.get("a", lambda: "A"), once.get("b", lambda: "B"), once.get("a", lambda: "again")) == ("A", "B", "A")


def test_a_failure_is_computed_once_and_raised_to_every_caller():
    once: Once[str, int] = Once()
    calls = []

    def fail() -> int:
        calls.append(1)
        raise ValueError("index unreadable")

    for _ in range(3):
        with pytest.raises(ValueError, match="index unreadable"):
            once.get("k", fail)
    assert len(calls) == 1


def test_an_interrupt_in_the_computation_is_not_swallowed():
    once: Once[str, int] = Once()

    def interrupted() -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        once.get("k", interrupted)
