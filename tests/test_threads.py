"""Issue 13: the thread policy under contention (yoloarena.threads), with mocked load readings;
one test with a real spinning process that is not ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import require

from yoloarena import threads
from yoloarena.threads import BUSY, LoadSampler, Policy, choose


def stat_text(busy: list[int], idle: list[int]) -> str:
    """A /proc/stat with one line per cpu: user=busy, idle=idle, other fields 0."""
    lines = [f"cpu  {sum(busy)} 0 0 {sum(idle)} 0 0 0 0 0 0"]
    pairs = enumerate(zip(busy, idle, strict=True))
    lines += [f"cpu{i} {b} 0 0 {d} 0 0 0 0 0 0" for i, (b, d) in pairs]
    return "\n".join([*lines, "intr 0", "ctxt 0"]) + "\n"


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_choose_quiet_busy_and_hysteresis() -> None:
    quiet = choose(0.0, cores=2, ceiling=2)
    assert (quiet.threads, quiet.spin) == (2, True)
    assert choose(None, 2, 2).spin  # not measured (not Linux): the quiet policy
    one_core = choose(1.0, cores=2, ceiling=2)
    assert (one_core.threads, one_core.spin) == (1, False)
    light = choose(BUSY + 0.05, cores=2, ceiling=2)  # a light job: one core is not ours alone
    assert (light.threads, light.spin) == (1, False)
    assert choose(1.9, cores=2, ceiling=2).threads == 1  # never below one thread
    many = choose(4.0, cores=16, ceiling=8)
    assert (many.threads, many.spin) == (8, False)  # never above the user's count
    assert choose(4.0, cores=16, ceiling=16).threads == 12
    assert choose(0.2, 2, 2, was_busy=True).busy  # leaving busy needs less than QUIET
    assert not choose(0.1, 2, 2, was_busy=True).busy
    assert not choose(0.2, 2, 2, was_busy=False).busy


def test_sampler_subtracts_our_own_cpu_time(tmp_path) -> None:
    stat, clock, own = tmp_path / "stat", FakeClock(), {"s": 10.0}
    stat.write_text(stat_text([1000, 1000], [5000, 5000]))
    s = LoadSampler([0, 1], stat, own=lambda: own["s"], clock=clock)
    # 1 s later: both cores fully busy (100 ticks each); we used 1.2 s of CPU ourselves
    clock.t += 1.0
    own["s"] += 1.2
    stat.write_text(stat_text([1100, 1100], [5000, 5000]))
    assert s.others() == pytest.approx(0.8)
    # the next second: cpu0 busy, cpu1 idle, and all of it was ours
    clock.t += 1.0
    own["s"] += 1.0
    stat.write_text(stat_text([1200, 1100], [5000, 5100]))
    assert s.others() == pytest.approx(0.0)
    # only the cores we may run on count (affinity): cpu1 alone, fully busy, none of it ours
    only1 = LoadSampler([1], stat, own=lambda: own["s"], clock=clock)
    clock.t += 1.0
    stat.write_text(stat_text([1200, 1200], [5100, 5100]))
    assert only1.others() == pytest.approx(1.0)


def test_sampler_without_proc_stat_reads_nothing(tmp_path) -> None:
    s = LoadSampler([0], tmp_path / "missing")
    assert s.others() is None and s.elapsed() == float("inf")


class FakeSampler:
    """Stands in for the process's sampler: others() returns what the test sets."""

    def __init__(self, others: float | None, cores: int = 2) -> None:
        self.value, self.cpus, self.t = others, {f"cpu{i}" for i in range(cores)}, 0.0

    def elapsed(self) -> float:
        return 10.0

    def others(self) -> float | None:
        return self.value


@pytest.fixture
def fake_load(monkeypatch):
    """Set the load the policy reads: fake_load(1.0) = one core busy with other processes."""
    sampler = FakeSampler(0.0)
    monkeypatch.setattr(threads, "_sampler", lambda: sampler)
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1])
    monkeypatch.setattr(threads._STATE, "policy", None)
    monkeypatch.delenv("YOLOARENA_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)

    def set_load(value: float | None) -> FakeSampler:
        sampler.value = value
        threads._STATE.policy = None  # no reuse of an earlier reading
        return sampler

    yield set_load
    torch.set_num_threads(before)


def test_scope_sets_threads_by_load_and_gives_them_back(fake_load) -> None:
    fake_load(1.0)
    with threads.scope() as p:
        assert (p.threads, p.spin) == (1, False)
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2  # the user's count is back
    fake_load(0.0)
    with threads.scope() as p:
        assert (p.threads, p.spin) == (2, True) and torch.get_num_threads() == 2


def test_watch_follows_the_load_inside_a_scope(fake_load) -> None:
    fake_load(0.0)
    with threads.scope():
        watch = threads.Watch(every=0.0)
        assert watch.check() is None  # still quiet: nothing changed
        fake_load(1.0)
        changed = watch.check()
        assert changed is not None and changed.threads == 1 and torch.get_num_threads() == 1
        assert watch.check() is None and watch.steady == 2  # the same policy held twice
        fake_load(0.0)
        assert watch.check().threads == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


def test_runtime_options_follow_the_policy(fake_load) -> None:
    ort = require("onnxruntime", "the [export] extra is not installed")
    fake_load(1.0)
    opts = threads.onnxruntime_options(ort)
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert threads.openvino_config() == {"INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": False}
    fake_load(0.0)
    opts = threads.onnxruntime_options(ort)
    assert opts.intra_op_num_threads == 2
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert threads.openvino_config() == {"INFERENCE_NUM_THREADS": 2}


def test_env_switches_the_policy_off_or_fixes_it(fake_load, monkeypatch) -> None:
    fake_load(1.0)
    monkeypatch.setenv("YOLOARENA_THREADS", "off")
    with threads.scope():
        assert torch.get_num_threads() == 2  # left alone
    assert threads.openvino_config() == {}
    monkeypatch.setenv("YOLOARENA_THREADS", "1")
    with threads.scope() as p:
        assert p.threads == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_policy_describes_itself() -> None:
    text = Policy(1, False, 1.02, 2).describe()
    assert text == "1 thread, passive waiting (cores used by other processes: 1.02 of 2)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux only")
def test_a_spinning_process_that_is_not_ours_counts_as_load() -> None:
    """A real reading: a busy loop started through a shell that exits at once (so the loop is
    not our child: our own children are not contention) shows up as about one busy core."""
    spin = f"{sys.executable} -c 'while True: pass' >/dev/null 2>&1 & echo $!"
    pid = int(subprocess.run(["sh", "-c", spin], capture_output=True, text=True).stdout)
    try:
        time.sleep(0.3)  # let it start
        s = LoadSampler()
        time.sleep(1.0)
        others = s.others()
    finally:
        os.kill(pid, signal.SIGKILL)
    assert others is not None and others >= 0.6, others
