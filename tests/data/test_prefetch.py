"""Issue 13: the bounded prefetch thread of predict (yoloarena.data.prefetch)."""

from __future__ import annotations

import threading
import time

import pytest

from yoloarena.data.prefetch import prefetch


def test_order_is_kept_whatever_each_item_costs() -> None:
    def slow_odd(i: int) -> int:
        time.sleep(0.01 if i % 2 else 0.0)
        return i * i

    assert list(prefetch(range(20), slow_odd, depth=3)) == [i * i for i in range(20)]
    assert list(prefetch(range(5), lambda i: -i, depth=0)) == [0, -1, -2, -3, -4]  # inline
    assert list(prefetch([], lambda i: i)) == []


def test_an_error_comes_after_the_results_before_it() -> None:
    def fail_at_3(i: int) -> int:
        if i == 3:
            raise ValueError("image 3 is broken")
        return i

    got = []
    with pytest.raises(ValueError, match="image 3 is broken"):
        for value in prefetch(range(10), fail_at_3, depth=2):
            got.append(value)
    assert got == [0, 1, 2]


def test_an_error_of_the_source_itself_is_raised_too() -> None:
    def source():
        yield 1
        raise FileNotFoundError("no such folder")

    with pytest.raises(FileNotFoundError, match="no such folder"):
        list(prefetch(source(), lambda i: i))


def test_the_queue_is_bounded() -> None:
    """The producer runs at most depth results (+ the one in hand) ahead of the consumer."""
    produced, depth, ahead = [0], 2, []

    def work(i: int) -> int:
        produced[0] += 1
        return i

    consumed = 0
    for _ in prefetch(range(50), work, depth=depth):
        consumed += 1
        time.sleep(0.005)  # a slow consumer: the producer would run away if it could
        ahead.append(produced[0] - consumed)
    assert consumed == 50
    assert max(ahead) <= depth + 1
    assert max(ahead) >= 1  # it did work ahead


def test_leaving_early_stops_the_thread_and_closes_the_source() -> None:
    closed, produced = threading.Event(), [0]

    def source():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    def work(i: int) -> int:
        produced[0] += 1
        return i

    before = set(threading.enumerate())
    gen = prefetch(source(), work, depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert closed.wait(2.0)
    assert produced[0] <= 3 + 2 + 1
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]
