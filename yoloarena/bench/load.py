"""How busy the machine was while the benchmark timed: CPU used by other processes.

Other load = busy CPU time of the whole machine (/proc/stat: user, nice, system, irq, softirq and
steal; guest time is already inside user) minus the CPU time of this benchmark's own processes
(/proc/<pid>/stat utime + stime of this process and of its live workers), divided by the wall
time: the cores that something else used (or the hypervisor took) meanwhile. Both files count in
USER_HZ clock ticks. On systems without /proc the load is unknown (None) and nothing is flagged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CONTENTION_CORES = 0.2  # other load at or above this many cores marks a result as contended
STAT = Path("/proc/stat")


def parse_busy(text: str) -> int:
    """Busy clock ticks of all CPUs from the text of /proc/stat (its aggregate 'cpu' line):
    user + nice + system + irq + softirq + steal; idle and iowait are not busy."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:9]]
            values += [0] * (8 - len(values))  # kernels before 2.6.11 have no steal field
            user, nice, system, _idle, _iowait, irq, softirq, steal = values
            return user + nice + system + irq + softirq + steal
    raise ValueError("no aggregate 'cpu' line in /proc/stat text")


def parse_process_ticks(text: str) -> int:
    """utime + stime (clock ticks, all threads) from the text of /proc/<pid>/stat. The command
    name in parentheses may hold spaces and parentheses, so fields count from the last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of the whole line


def machine_busy_ticks() -> int | None:
    """Busy ticks of the whole machine since boot, or None where /proc/stat is not there."""
    try:
        return parse_busy(STAT.read_text())
    except (OSError, ValueError):
        return None


def process_ticks(pid: int) -> int | None:
    """CPU ticks used so far by one process, or None when it is gone (or no /proc)."""
    try:
        return parse_process_ticks(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Snapshot:
    time: float
    machine: int | None
    own: dict[int, int]


@dataclass(frozen=True)
class BlockLoad:
    """CPU use during one timed block: other processes' and the benchmark's own, in cores."""

    seconds: float
    other_cores: float | None
    own_cores: float | None


class LoadSampler:
    """Snapshots of machine and own CPU time; `since(snapshot)` gives the load in between.

    pids: a callable giving the benchmark's worker processes (this process always counts)."""

    def __init__(self, pids: Callable[[], Iterable[int]] | None = None) -> None:
        self.pids = pids or (lambda: ())
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def snapshot(self) -> Snapshot:
        own = {}
        for pid in {os.getpid(), *self.pids()}:
            ticks = process_ticks(pid)
            if ticks is not None:
                own[pid] = ticks
        return Snapshot(time.perf_counter(), machine_busy_ticks(), own)

    def since(self, start: Snapshot) -> BlockLoad:
        end = self.snapshot()
        seconds = max(end.time - start.time, 1e-9)
        if end.machine is None or start.machine is None or not end.own:
            return BlockLoad(seconds, None, None)
        # a process started in between counts from 0: its start-up is its own CPU time
        own = sum(t - start.own.get(pid, 0) for pid, t in end.own.items()) / self.hz
        busy = (end.machine - start.machine) / self.hz
        return BlockLoad(seconds, max(0.0, busy - own) / seconds, own / seconds)


def background_load(seconds: float = 0.5, sampler: LoadSampler | None = None) -> float | None:
    """Cores used by other processes over the next `seconds` (this process sleeps meanwhile)."""
    sampler = sampler or LoadSampler()
    start = sampler.snapshot()
    time.sleep(seconds)
    return sampler.since(start).other_cores


def mean_load(loads: Iterable[BlockLoad]) -> float | None:
    """Other processes' cores over several blocks, weighted by their wall time."""
    loads = [b for b in loads if b.other_cores is not None]
    if not loads:
        return None
    total = sum(b.seconds for b in loads)
    return sum(b.other_cores * b.seconds for b in loads) / total


def contended(other_cores: float | None) -> bool:
    return other_cores is not None and other_cores >= CONTENTION_CORES


def contention_text(other_cores: float | None) -> str:
    """'yes (other load 0.9 cores)', 'no (other load 0.02 cores)', or 'unknown (no /proc/stat)'."""
    if other_cores is None:
        return "unknown (no /proc/stat)"
    word = "yes" if contended(other_cores) else "no"
    return f"{word} (other load {other_cores:.2f} cores)"
