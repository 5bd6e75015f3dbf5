"""Issue 13: the worker-process protocol of fair timing: the order of the blocks (rotating
workers, kinds back to back), separate processes, the thread count, and clear errors naming
the backend when a worker fails to load or dies."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest

from yoloarena.bench.workers import WorkerPool, WorkerSpec, run_blocks, schedule
from yoloarena.errors import YoloArenaError


# worker factories: module-level, so that the spawned process can import them by name
def stamped_calls(name: str):
    """Calls that return when (system-wide monotonic clock) and where they ran."""

    def call(kind: str):
        return lambda: {"t": time.monotonic_ns(), "who": name, "kind": kind, "pid": os.getpid()}

    return {"model": call("model"), "e2e": call("e2e")}, {"hello": name}


def dying_calls(after: int):
    """A backend whose runtime crashes hard (SIGKILL, as a segfault or the OOM killer would)
    on its call number after + 1."""
    state = {"n": 0}

    def call():
        state["n"] += 1
        if state["n"] > after:
            os.kill(os.getpid(), signal.SIGKILL)

    return {"model": call}, {}


def failing_calls(path: str):
    raise YoloArenaError(f"'{path}' is not a loadable ONNX model: protobuf parsing failed")


def test_schedule_rotates_workers_and_flips_kinds() -> None:
    got = schedule(["a", "b", "c"], runs=5, block=3, kinds=("model", "e2e"))
    assert got == [
        ("a", "model", 3), ("a", "e2e", 3), ("b", "model", 3), ("b", "e2e", 3),
        ("c", "model", 3), ("c", "e2e", 3),
        ("b", "e2e", 2), ("b", "model", 2), ("c", "e2e", 2), ("c", "model", 2),
        ("a", "e2e", 2), ("a", "model", 2),
    ]  # fmt: skip
    for name, kind in itertools.product("abc", ("model", "e2e")):
        assert sum(n for w, k, n in got if (w, k) == (name, kind)) == 5
    assert schedule(["x"], runs=1) == [("x", "model", 1)]


@pytest.mark.slow
def test_workers_run_their_blocks_in_turn_in_separate_processes() -> None:
    specs = [WorkerSpec(n, stamped_calls, (n,), threads=1) for n in ("a", "b")]
    with WorkerPool(specs) as pool:
        info = {n: pool[n].info for n in ("a", "b")}
        t = run_blocks(pool, runs=4, warmup=1, kinds=("model", "e2e"), block=3)
    assert info["a"]["hello"] == "a" and info["a"]["torch_threads"] == 1
    assert len({info["a"]["pid"], info["b"]["pid"], os.getpid()}) == 3
    assert not any(w.proc.is_alive() for w in pool.workers.values())  # closed on exit
    samples = sorted((s for w in t.samples.values() for k in w.values() for s in k),
                     key=lambda s: s["t"])  # fmt: skip
    # the timed calls in the order they really ran (across both processes) are the schedule's
    ran = [(s["who"], s["kind"]) for s in samples]
    plan = schedule(["a", "b"], 4, 3, ("model", "e2e"))
    assert ran == [(who, kind) for who, kind, n in plan for _ in range(n)]
    assert plan[:4] == [("a", "model", 3), ("a", "e2e", 3), ("b", "model", 3), ("b", "e2e", 3)]
    assert all(s["pid"] == info[s["who"]]["pid"] for s in samples)
    assert all(s["ms"] >= 0 for s in samples)
    assert len(t.loads["a"]) == len(t.loads["b"]) == 4  # one load sample per block


@pytest.mark.slow
def test_a_worker_that_dies_or_fails_is_named() -> None:
    specs = [WorkerSpec("onnx", stamped_calls, ("onnx",), 1),
             WorkerSpec("openvino", dying_calls, (4,), 1)]  # fmt: skip
    with pytest.raises(YoloArenaError) as e, WorkerPool(specs) as pool:
        run_blocks(pool, runs=6, warmup=1, block=3)  # warm-up 1 + block (1 + 3): dies after
    msg = str(e.value)
    assert "benchmark worker of backend 'openvino' died while timing it (model)" in msg, msg
    assert "killed by SIGKILL" in msg and "backends=openvino alone" in msg
    assert not any(w.proc.is_alive() for w in pool.workers.values())  # all closed
    bad = [WorkerSpec("onnx-int8", failing_calls, ("m_int8.onnx",), 1)]
    expect = r"backend 'onnx-int8' failed in its benchmark worker while loading it: 'm_int8.onnx'"
    with pytest.raises(YoloArenaError, match=expect), WorkerPool(bad):
        pass


def test_pool_sets_sigchld_aside_and_puts_it_back() -> None:
    """A DataLoader's SIGCHLD handler (installed for the rest of the process) does not run when
    the pool's workers exit, and is back in place afterwards (see yoloarena/children.py)."""
    calls: list[int] = []

    def handler(signum, frame) -> None:
        calls.append(signum)

    before = signal.signal(signal.SIGCHLD, handler)
    try:
        with WorkerPool([WorkerSpec("a", stamped_calls, ("a",), threads=1)]) as pool:
            assert signal.getsignal(signal.SIGCHLD) is signal.SIG_DFL
            pid = pool["a"].info["pid"]
        assert signal.getsignal(signal.SIGCHLD) is handler
        assert not calls, f"the handler ran for the pool's worker {pid}"
        import subprocess
        import sys

        subprocess.run([sys.executable, "-c", "pass"], check=True)  # control: the handler runs
        time.sleep(0.1)
        assert calls == [signal.SIGCHLD]
    finally:
        signal.signal(signal.SIGCHLD, before)
