"""glibc's allocator and batched CPU inference: keep freed tensor memory in the process.

A batched forward allocates activations of hundreds of MB. glibc serves blocks above its mmap
threshold (adaptive, at most 32 MiB by default) with fresh pages from mmap and returns them on
free, so each forward faults in and zeroes every page of its large activations again: a batch-32
forward of yolov5n at 640 costs about twice per image what a batch-4 forward does.
`keep_freed_memory` raises the mmap and trim thresholds so that freed blocks stay in the heap and
the next batch reuses them. The peak memory is the same (the largest batch's activations); the
memory is kept until the process ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

LOGGER = logging.getLogger("yoloarena")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_KEEP = 1 << 30  # blocks up to 1 GiB come from the heap, and the heap is never trimmed
_state: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to 1 GiB (once per process); True when set.

    A no-op returning False where the C library is not glibc (macOS, Windows, musl) or when
    YOLOARENA_MALLOPT=0."""
    if "done" in _state:
        return _state["done"]
    ok = False
    if os.environ.get("YOLOARENA_MALLOPT", "1") != "0" and _is_glibc():
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(
                libc.mallopt(_M_TRIM_THRESHOLD, _KEEP)
            )
        except (OSError, AttributeError):
            ok = False
    _state["done"] = ok
    LOGGER.debug("glibc mallopt (keep freed memory): %s", "on" if ok else "unavailable")
    return ok


def _is_glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
