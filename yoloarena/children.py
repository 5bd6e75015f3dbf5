"""PyTorch's DataLoader SIGCHLD handler, kept to the time our loaders' workers run.

A DataLoader with workers installs a Python-level SIGCHLD handler and keeps it for the rest of
the process (it checks its own workers whenever any child exits). In this project's test
process, that handler running when some later child exited crashed CPython (SIGSEGV in the main
thread, in the frame that was waiting for the child) after an in-process OpenVINO INT8 export:
4 of 4 runs of export -> DataLoader -> benchmark worker crashed, 0 of 3 with the handler set
aside; the whole suite crashed the same way when a test's own background processes exited.

So training takes the handler down when its loader's workers are gone (`release_dataloader_
sigchld`; the next DataLoader with workers installs it again), and the benchmark's worker
processes run with the default disposition (`set_default_sigchld`), the handler being put back
afterwards (`restore_sigchld`).
"""

from __future__ import annotations

import inspect
import signal
import threading

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


def release_dataloader_sigchld() -> bool:
    """Remove the SIGCHLD handler that a DataLoader with workers installed, restoring what was
    there before it, and let the next such DataLoader install it again. Call it once the
    loader's workers have exited. True when a handler was removed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        from torch.utils.data._utils import signal_handling
    except ImportError:
        return False
    current = signal.getsignal(signal.SIGCHLD)
    code = getattr(current, "__code__", None)
    if code is None or code.co_name != "handler" or "SIGCHLD" not in current.__qualname__:
        return False  # not torch's (someone else's handler stays)
    previous = inspect.getclosurevars(current).nonlocals.get("previous_handler")
    signal.signal(signal.SIGCHLD, previous if callable(previous) else signal.SIG_DFL)
    signal_handling._SIGCHLD_handler_set = False
    return True
