"""A bounded prefetch thread: decode and resize the next batches while the model runs.

OpenCV's decode and resize release the GIL, so one background thread overlaps them with the
forward pass. Keep torch operations out of `fn`: a torch op in a second thread starts a second
intra-op thread pool beside the model's, which is the contention `yoloarena.threads` avoids.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE, _ITEM, _ERROR = 0, 1, 2


def prefetch(items: Iterable[T], fn: Callable[[T], U], depth: int = 2) -> Iterator[U]:
    """fn(item) for each item, computed in one background thread, yielded in order.

    At most `depth` results wait in the queue (plus the one being computed), so memory stays
    bounded however slow the consumer is. An exception raised by fn or by iterating items is
    raised here, after the results before it. Closing the generator (or leaving a for loop
    early) stops the thread. depth <= 0: no thread, fn runs inline.
    """
    if depth <= 0:
        yield from (fn(item) for item in items)
        return
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(items, fn, out, stop), daemon=True,
                              name="yoloarena-prefetch")  # fmt: skip
    thread.start()
    try:
        while True:
            kind, value = out.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting for room in the queue
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.05)
        thread.join()


def _produce(items: Iterable, fn: Callable, out: queue.Queue, stop: threading.Event) -> None:
    it = iter(items)
    try:
        for item in it:
            if stop.is_set():
                return
            if not _put(out, stop, (_ITEM, fn(item))):
                return
        _put(out, stop, (_DONE, None))
    except BaseException as e:  # handed to the consumer, raised there
        _put(out, stop, (_ERROR, e))
    finally:
        close = getattr(it, "close", None)
        if close is not None:  # a generator source (a video capture) is released here
            with contextlib.suppress(Exception):
                close()


def _put(out: queue.Queue, stop: threading.Event, entry: tuple) -> bool:
    while not stop.is_set():
        try:
            out.put(entry, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
