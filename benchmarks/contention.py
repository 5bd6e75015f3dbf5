"""Forward latency beside a controlled background load, with yoloarena's thread policy off and on.

For each model (default damoyolo-t and yolov5n, random weights, deployed, batch 1 at --imgsz
640, fp32) and each load:

- ``quiet``: nothing started by this script (look at the load averages printed);
- ``one busy core``: one process spinning in a busy loop;
- ``light``: one process busy about 30% of the time (3 ms of work, 7 ms of sleep), the kind of
  background job that slowed 2-thread PyTorch down most;

the forward is timed with the policy **off** (PyTorch with ``--threads`` threads, as before
yoloarena.threads) and **on** (inside ``yoloarena.threads.scope()``, which measures the load
and picks the thread count; re-measured for every load), in alternated blocks. The loads are
started through a shell that exits at once, so they are not children of this process (the
policy counts its own children, e.g. data-loader workers, as its own work). It prints the median
and p90 ms, the threads the policy chose, and the slowdown of each load against quiet
(target: under one busy core, damoyolo-t at most 2x its quiet latency with the policy on).
``--backends torch onnx`` adds ONNX Runtime (off: 2 threads, spinning, its defaults; on: the
policy's session options).

Usage::

    python benchmarks/contention.py [--models damoyolo-t yolov5n] [--runs 20] [--imgsz 640]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

import yoloarena
from yoloarena import threads
from yoloarena.bench.environment import cpu_name, load_note

LOADS = {
    "quiet": None,
    "one busy core": "while True: pass",
    "light": (
        "import time\nwhile True:\n    t = time.perf_counter()\n"
        "    while time.perf_counter() - t < 0.003: pass\n    time.sleep(0.007)"
    ),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["damoyolo-t", "yolov5n"])
    p.add_argument("--backends", nargs="+", default=["torch"], choices=["torch", "onnx"])
    p.add_argument("--loads", nargs="+", default=list(LOADS), choices=list(LOADS))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--runs", type=int, default=20, help="timed forwards per cell")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--block", type=int, default=5, help="forwards per alternation block")
    p.add_argument("--threads", type=int, default=2, help="torch threads with the policy off")
    return p.parse_args(argv)


def start_load(code: str) -> int:
    """A Python process running code, detached (its shell parent exits): returns its pid."""
    cmd = f"{sys.executable} -c {shq(code)} >/dev/null 2>&1 & echo $!"
    pid = int(subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout)
    time.sleep(0.5)  # let it start
    return pid


def shq(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def stop_load(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def runners(name: str, backends: list[str], imgsz: int, threads_off: int, tmp: Path):
    """{backend: (forward with the policy off, forward with the policy on)} for one model."""
    net = yoloarena.load(name).model.deploy()
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    x = x * (255 if net.transform.divisor == 1.0 else 1.0)
    out: dict[str, tuple[Callable[[], None], Callable[[], threads.Policy]]] = {}

    def torch_off() -> None:
        torch.set_num_threads(threads_off)
        net(x)

    def torch_on() -> threads.Policy:
        torch.set_num_threads(threads_off)
        with threads.scope(max_age=1.0) as p:
            net(x)
        return p

    out["torch"] = (torch_off, torch_on)
    if "onnx" in backends:
        out["onnx"] = onnx_runners(net, x, imgsz, tmp / f"{name}.onnx")
    return out


def onnx_runners(net, x: torch.Tensor, imgsz: int, path: Path):
    import onnxruntime as ort

    from yoloarena.export import export_model

    export_model(net, "onnx", imgsz=imgsz, file=path)
    arr = x.numpy()
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sessions: dict[tuple, object] = {}

    def off() -> None:
        plain.run(None, {"images": arr})

    def on() -> threads.Policy:
        p = threads.policy(max_age=1.0)
        key = (p.threads, p.spin)
        if key not in sessions:  # made outside the timing (once per policy)
            sessions[key] = ort.InferenceSession(
                str(path), threads.onnxruntime_options(ort), providers=["CPUExecutionProvider"]
            )
        sessions[key].run(None, {"images": arr})
        return p

    on()  # the first session outside the timing
    return off, on


def time_cell(off: Callable, on: Callable, runs: int, warmup: int, block: int) -> dict:
    """ms of off and on, alternated in blocks (off first in even blocks)."""
    for _ in range(warmup):
        off()
        on()
    ms: dict[str, list[float]] = {"off": [], "on": []}
    chosen: list[str] = []
    for b in range((runs + block - 1) // block):
        order = [("off", off), ("on", on)]
        for key, fn in order[::-1] if b % 2 else order:
            for _ in range(block):
                t0 = time.perf_counter()
                res = fn()
                ms[key].append((time.perf_counter() - t0) * 1e3)
                if key == "on":
                    chosen.append(f"{res.threads}{'' if res.spin else 'p'}")
    return {"off": ms["off"], "on": ms["on"], "chosen": max(set(chosen), key=chosen.count)}


def bench(args: argparse.Namespace, tmp: Path) -> dict:
    results: dict = {}
    cells = {m: runners(m, args.backends, args.imgsz, args.threads, tmp) for m in args.models}
    for load in args.loads:
        print(f"  load: {load} ...", file=sys.stderr, flush=True)
        pid = start_load(LOADS[load]) if LOADS[load] else None
        try:
            threads.policy(max_age=0.0)  # a fresh reading under this load
            for model, backends in cells.items():
                for backend, (off, on) in backends.items():
                    results[(model, backend, load)] = time_cell(
                        off, on, args.runs, args.warmup, args.block
                    )
        finally:
            stop_load(pid)
        time.sleep(0.5)
    return results


def report(args: argparse.Namespace, results: dict) -> None:
    print(f"\n{'model':<11} {'backend':<7} {'load':<14} {'policy':<6} {'threads':>7} "
          f"{'median ms':>9} {'p90 ms':>8} {'x quiet':>8} {'off/on':>7}")  # fmt: skip
    for (model, backend, load), r in results.items():
        quiet = results.get((model, backend, "quiet"))
        for key in ("off", "on"):
            med = statistics.median(r[key])
            ratio = med / statistics.median(quiet[key]) if quiet else float("nan")
            used = str(args.threads) if key == "off" else r["chosen"]
            gain = statistics.median(r["off"]) / med if key == "on" else None
            print(f"{model:<11} {backend:<7} {load:<14} {key:<6} {used:>7} {med:9.1f} "
                  f"{np.percentile(r[key], 90):8.1f} {ratio:7.2f}x"
                  + (f" {gain:6.2f}x" if gain else ""))  # fmt: skip
    print("threads: the count used ('p': passive waiting); x quiet: median / the same policy's")
    print("median under the quiet load (target: damoyolo-t, one busy core, policy on: <= 2x);")
    print("off/on: the policy's speed-up under the same load")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("yoloarena").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    print("contention benchmark: forward latency beside a background load, thread policy off/on")
    usable = len(threads.usable_cores())
    print(f"  CPU {cpu_name()} ({os.cpu_count()} logical cores, {usable} usable); torch "
          f"{torch.__version__}; batch 1 at {args.imgsz}, fp32, deployed")  # fmt: skip
    print(f"  {args.runs} timed runs per cell after {args.warmup} warm-up, blocks of {args.block}")
    print(f"  {load_note()} (at the start)", flush=True)
    with tempfile.TemporaryDirectory(prefix="yoloarena-contention-") as tmp:
        results = bench(args, Path(tmp))
    report(args, results)
    print(f"\n{load_note()} (at the end)")


if __name__ == "__main__":
    main()
