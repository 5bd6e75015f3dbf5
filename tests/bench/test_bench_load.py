"""Issue 13: the machine-load sampler (fixed /proc text; the arithmetic of other processes' cores)
and the FLOP count of the peak's convolution."""

from __future__ import annotations

import os
import time

import pytest
import torch

from yoloarena.bench import load
from yoloarena.bench.load import BlockLoad, LoadSampler, Snapshot

PROC_STAT = """\
cpu  4705 356 584 3699176 23060 0 277 17 8 3
cpu0 1393 280 326 1849612 11560 0 127 9 4 1
cpu1 3312 76 258 1849564 11500 0 150 8 4 2
intr 1462898 21 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 3000765
btime 1765000000
processes 7123
"""
OLD_KERNEL = "cpu  100 5 20 9000 30 1 2\ncpu0 100 5 20 9000 30 1 2\n"  # no steal field


def test_parse_busy_counts_user_nice_system_irq_softirq_steal() -> None:
    # user 4705 + nice 356 + system 584 + irq 0 + softirq 277 + steal 17; idle, iowait and
    # guest (already inside user) are not added
    assert load.parse_busy(PROC_STAT) == 4705 + 356 + 584 + 0 + 277 + 17
    assert load.parse_busy(OLD_KERNEL) == 100 + 5 + 20 + 1 + 2
    with pytest.raises(ValueError, match="no aggregate 'cpu' line"):
        load.parse_busy("cpu0 1 2 3 4\n")


def test_parse_process_ticks_reads_utime_stime_after_the_command_name() -> None:
    # comm may hold spaces and ')': fields are counted from the last ')'
    fields = ["S", "1", "1234", "1234", "0", "-1", "4194560", "100", "0", "0", "0",
              "731", "42", "0", "0", "20", "0", "3"]  # fmt: skip
    text = "1234 (py (worker) 1) " + " ".join(fields) + "\n"
    assert load.parse_process_ticks(text) == 731 + 42


def test_sampler_subtracts_own_processes(monkeypatch) -> None:
    """Machine busy 300 ticks over 1 s at 100 Hz = 3 cores; this process 50 and a worker 100
    ticks = 1.5 cores of its own; so 1.5 cores of other load."""
    sampler = LoadSampler(lambda: [111])
    sampler.hz = 100
    start = Snapshot(10.0, 1000, {1: 500, 111: 200})
    end = Snapshot(11.0, 1300, {1: 550, 111: 300})
    monkeypatch.setattr(sampler, "snapshot", lambda: end)
    got = sampler.since(start)
    assert got.seconds == pytest.approx(1.0)
    assert got.other_cores == pytest.approx(1.5) and got.own_cores == pytest.approx(1.5)
    # never negative (tick rounding), and unknown without /proc/stat
    monkeypatch.setattr(sampler, "snapshot", lambda: Snapshot(11.0, 1000, end.own))
    assert sampler.since(start).other_cores == 0.0
    monkeypatch.setattr(sampler, "snapshot", lambda: Snapshot(11.0, None, end.own))
    assert sampler.since(start).other_cores is None


def test_sampler_reads_this_process_from_proc() -> None:
    """A live snapshot: 50 ms of this process's CPU time shows in its own ticks (5 at 100 Hz)
    and in the machine's busy ticks."""
    if load.machine_busy_ticks() is None:
        pytest.skip("no /proc/stat here")
    sampler, pid = LoadSampler(), os.getpid()
    a = sampler.snapshot()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.05:
        pass
    b = sampler.snapshot()
    assert b.own[pid] - a.own[pid] >= 2
    assert b.machine - a.machine >= 2


def test_mean_load_weights_blocks_by_time_and_flags_contention() -> None:
    blocks = [BlockLoad(1.0, 0.0, 2.0), BlockLoad(3.0, 1.0, 1.0), BlockLoad(2.0, None, None)]
    assert load.mean_load(blocks) == pytest.approx(0.75)
    assert load.mean_load([BlockLoad(1.0, None, None)]) is None
    assert load.contention_text(0.9) == "yes (other load 0.90 cores)"
    assert load.contention_text(0.05) == "no (other load 0.05 cores)"
    assert load.contention_text(None).startswith("unknown")
    assert load.contended(load.CONTENTION_CORES) and not load.contended(None)


def test_conv_peak_flops_match_torch_flop_counter() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from yoloarena.bench.peak import CONV, MATMUL_N, conv_flops, peak_calls

    c = CONV
    x = torch.zeros(c["batch"], c["cin"], c["size"], c["size"])
    w = torch.zeros(c["cout"], c["cin"], c["k"], c["k"])
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.conv2d(x, w, padding=1)
    assert conv_flops(**c) == counter.get_total_flops()
    calls, info = peak_calls()
    assert info["flops"] == {"conv": counter.get_total_flops(), "matmul": 2 * MATMUL_N**3}
    assert set(calls) == {"conv", "matmul"}
