"""How many CPU threads inference uses, and how they wait, given the other load on the machine.

Intra-op thread pools (PyTorch's OpenMP, ONNX Runtime, OpenVINO) split every layer across their
threads and wait at the end of it for the slowest one. When another process takes one of the
cores, the thread on that core runs in the scheduler's time slices, every layer waits for it,
and a waiting thread that spins takes the CPU from the process it waits for: 2-thread PyTorch on
2 cores ran 5-40x slower beside a light background job. A thread pool no larger than the free
cores, with passive waiting, slows down in proportion to the cores it lost instead.

The policy, one for every backend:

- quiet (other processes use less than `BUSY` of a core): the thread count PyTorch had when
  yoloarena first looked (its default or the user's ``torch.set_num_threads``), ONNX Runtime
  spinning as it does by default;
- busy: ``floor(cores - others)`` threads (at least 1, never above the quiet count) and passive
  waiting (ONNX Runtime ``allow_spinning=0``; OpenVINO without CPU pinning). PyTorch's OpenMP
  wait policy is fixed when the library loads, so PyTorch gets the thread count only.

"others" is the CPU time of every core this process may run on (``/proc/stat``) minus the CPU
time of this process and its children (loader workers are ours, not contention), per second.
predict, val, training and the hub call run inside `scope`, which measures at the start
(reusing a reading of the last few seconds), sets PyTorch's thread count, and gives the user's
count back at the end; `Watch.check` re-measures during long runs. ONNX Runtime and OpenVINO
sessions take the policy when they are made (`onnxruntime_options`, `openvino_config`).
``YOLOARENA_THREADS=off`` leaves every thread setting alone; ``YOLOARENA_THREADS=<n>`` fixes n
threads. Linux only (elsewhere: the quiet policy).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

LOGGER = logging.getLogger("yoloarena")
BUSY = 0.25  # cores used by other processes from which the machine counts as busy
QUIET = 0.15  # ... and below which a busy machine counts as quiet again (hysteresis)
MIN_INTERVAL = 0.2  # seconds a load reading needs at least
REUSE = 5.0  # seconds a start-up reading stays valid
STALE = 30.0  # seconds after which the sampler's last reading is too old to measure from
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Policy:
    threads: int  # intra-op threads of every backend
    spin: bool  # busy-wait between parallel regions (False: passive waiting)
    others: float | None  # cores busy with other processes (None: not measured)
    cores: int  # cores this process may run on

    @property
    def busy(self) -> bool:
        return not self.spin

    def describe(self) -> str:
        load = "not measured" if self.others is None else f"{self.others:.2f} of {self.cores}"
        wait = "spinning" if self.spin else "passive waiting"
        n = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{n}, {wait} (cores used by other processes: {load})"


def usable_cores() -> list[int]:
    """The CPU indices this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def choose(others: float | None, cores: int, ceiling: int, was_busy: bool = False) -> Policy:
    """The policy for `others` cores of load on `cores` cores; ceiling: the quiet thread count.
    was_busy: the last policy was busy (then the machine counts as quiet only below QUIET)."""
    ceiling = max(int(ceiling), 1)
    limit = QUIET if was_busy else BUSY
    if others is None or others < limit:
        return Policy(ceiling, True, others, cores)
    free = math.floor(cores - others + 1e-6)
    return Policy(max(1, min(ceiling, free)), False, others, cores)


class LoadSampler:
    """Cores used by other processes between two readings (Linux /proc; None elsewhere)."""

    def __init__(
        self,
        cpus: list[int] | None = None,
        stat: Path = Path("/proc/stat"),
        own: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cpus = {f"cpu{i}" for i in (cpus if cpus is not None else usable_cores())}
        self.stat, self.own, self.clock = Path(stat), own or own_cpu_seconds, clock
        self.last = self.read()

    def read(self) -> tuple[float, float, float, float] | None:
        """(clock s, busy ticks, all ticks of our cpus, CPU s of this process tree)."""
        try:
            lines = self.stat.read_text().splitlines()
        except OSError:
            return None
        busy = total = 0.0
        for line in lines:
            parts = line.split()
            if parts and parts[0] in self.cpus:
                v = [float(x) for x in parts[1:9]]  # user nice system idle iowait irq soft steal
                busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
                total += sum(v)
        if total == 0:
            return None
        return self.clock(), busy, total, self.own()

    def elapsed(self) -> float:
        return self.clock() - self.last[0] if self.last else math.inf

    def others(self) -> float | None:
        """Cores busy with other processes since the last reading (which this one replaces)."""
        now = self.read()
        if now is None or self.last is None:
            return None
        (t0, b0, a0, o0), (t1, b1, a1, o1) = self.last, now
        self.last = now
        if a1 <= a0 or t1 <= t0:
            return None
        cores = len(self.cpus)
        busy = (b1 - b0) / (a1 - a0) * cores  # cores busy on average
        ours = (o1 - o0) / (t1 - t0)
        return max(busy - ours, 0.0)


def own_cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its live and finished children."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for pid in _children():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (float(fields[11]) + float(fields[12])) / _TICK  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def _children() -> list[str]:
    pids: list[str] = []
    try:
        for task in Path("/proc/self/task").iterdir():
            try:
                pids += (task / "children").read_text().split()
            except OSError:
                continue
    except OSError:
        pass
    return pids


class _State:
    def __init__(self) -> None:
        self.sampler: LoadSampler | None = None
        self.policy: Policy | None = None  # the last one chosen
        self.when = 0.0  # when it was measured (monotonic s)
        self.depth = 0  # scopes open
        self.ceiling = 1  # the quiet thread count of the open scopes


_STATE = _State()
_STATE.sampler = LoadSampler()  # the first reading: from import to the first policy()


def _mode() -> str:
    return os.environ.get("YOLOARENA_THREADS", "auto").strip().lower() or "auto"


def _ceiling() -> int:
    """The quiet thread count: PyTorch's when the outermost scope opened (or now, outside)."""
    return _STATE.ceiling if _STATE.depth else torch.get_num_threads()


def policy(max_age: float = REUSE) -> Policy:
    """The policy now: measured, or the last one when measured within max_age s (a reading
    needs MIN_INTERVAL s since the previous one: the first call may wait that long)."""
    mode = _mode()
    cores = len(usable_cores())
    if mode == "off":
        return Policy(torch.get_num_threads(), True, None, cores)
    if mode.isdigit():
        return Policy(max(int(mode), 1), True, None, cores)
    ceiling = _ceiling()
    if _STATE.policy is not None and time.monotonic() - _STATE.when < max_age:
        return choose(_STATE.policy.others, cores, ceiling, _STATE.policy.busy)
    sampler = _sampler()
    wait = MIN_INTERVAL - sampler.elapsed()
    if wait > 0:
        time.sleep(wait)
    return _measured(sampler.others(), cores, ceiling)


def _sampler() -> LoadSampler:
    """The process's load sampler; a reading older than STALE s is an average over too long a
    time to describe the load now, so it starts again."""
    if _STATE.sampler is None or _STATE.sampler.elapsed() > STALE:
        _STATE.sampler = LoadSampler()
    return _STATE.sampler


def _measured(others: float | None, cores: int, ceiling: int) -> Policy:
    was = _STATE.policy
    new = choose(others, cores, ceiling, was is not None and was.busy)
    _STATE.policy, _STATE.when = new, time.monotonic()
    if was is None or (was.threads, was.spin) != (new.threads, new.spin):
        level = logging.INFO if new.busy or (was is not None and was.busy) else logging.DEBUG
        LOGGER.log(level, "CPU threads: %s", new.describe())
    return new


def current() -> Policy:
    """The policy for a runtime session made now (measured if it never was)."""
    return policy()


@contextlib.contextmanager
def scope(max_age: float = REUSE) -> Iterator[Policy]:
    """PyTorch's thread count set by the policy for the duration of a predict, val or training
    run (Watch.check may change it inside), and given back as it was at the end."""
    if _mode() == "off":
        yield policy()
        return
    before = torch.get_num_threads()
    if not _STATE.depth:
        _STATE.ceiling = before
    _STATE.depth += 1
    try:
        chosen = policy(max_age)
        _set_threads(chosen.threads)
        yield chosen
    finally:
        _STATE.depth -= 1
        _set_threads(before)


def _set_threads(n: int) -> None:
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class Watch:
    """Re-measures the load during a long run, at most every `every` seconds: call check()
    between batches; it returns the new policy when the thread count or wait policy changed.
    steady: how many checks in a row gave the policy now in force."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.steady = 0
        self._last: tuple[int, bool] | None = None

    def check(self) -> Policy | None:
        if _mode() != "auto" or _sampler().elapsed() < self.every:
            return None
        before = _STATE.policy
        sampler = _sampler()
        new = _measured(sampler.others(), len(sampler.cpus), _ceiling())
        if _STATE.depth:
            _set_threads(new.threads)
        key = (new.threads, new.spin)
        self.steady = self.steady + 1 if key == self._last else 1
        self._last = key
        changed = before is None or (before.threads, before.spin) != key
        return new if changed else None


def onnxruntime_options(ort) -> object:
    """ONNX Runtime SessionOptions under the current policy."""
    chosen = current()
    opts = ort.SessionOptions()
    if _mode() != "off":
        opts.intra_op_num_threads = chosen.threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if chosen.spin else "0"
        )
    return opts


def openvino_config() -> dict[str, object]:
    """OpenVINO CPU plugin properties under the current policy."""
    chosen = current()
    if _mode() == "off":
        return {}
    config: dict[str, object] = {"INFERENCE_NUM_THREADS": chosen.threads}
    if chosen.busy:
        config["ENABLE_CPU_PINNING"] = False
    return config
