"""Child processes started while PyTorch's DataLoader SIGCHLD handler is installed.

A DataLoader with workers installs a Python-level SIGCHLD handler for the rest of the process
(it checks its own workers when any child exits). In this project's test process, the handler
running when a later benchmark worker exited crashed CPython (SIGSEGV in the main thread, in
the frame that was waiting for that worker) after an in-process OpenVINO INT8 export: 4 of 4
runs of export, DataLoader, benchmark worker crashed, 0 of 2 with the handler set aside while
the worker ran. The handler concerns DataLoader workers only, so processes started by yoloarena
itself run with the default disposition, and the handler is put back afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_MISSING = object()


def set_default_sigchld() -> object:
    """Put SIGCHLD at its default disposition; returns what to give `restore_sigchld`. A no-op
    off the main thread and where the platform has no SIGCHLD."""
    sig = getattr(signal, "SIGCHLD", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        return _MISSING
    previous = signal.signal(sig, signal.SIG_DFL)
    return signal.SIG_DFL if previous is None else previous


def restore_sigchld(previous: object) -> None:
    if previous is not _MISSING:
        signal.signal(signal.SIGCHLD, previous)


@contextmanager
def default_sigchld() -> Iterator[None]:
    """SIGCHLD at its default disposition inside the block; the previous handler afterwards."""
    previous = set_default_sigchld()
    try:
        yield
    finally:
        restore_sigchld(previous)
