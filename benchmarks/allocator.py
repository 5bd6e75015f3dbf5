"""Batched CPU forward and the allocator: glibc's page-fault storm, mallopt against inner batches.

A batch-32 forward of a 640-wide detector allocates activation tensors of hundreds of MB. glibc
serves blocks above its mmap threshold (dynamic, at most 32 MiB by default) with fresh mmap
pages and unmaps them on free, so every forward faults in (and zeroes) every page of its large
activations again; at batch 4 the blocks stay under the threshold and are reused from the heap.

Arms, each in its own subprocess (mallopt is process-wide and cannot be undone cleanly), run in
turns for --rounds rounds (A B B A ...):

- ``default``: glibc as it comes;
- ``mallopt``: M_MMAP_THRESHOLD and M_TRIM_THRESHOLD raised to 1 GiB (what
  ``yoloarena.allocator.keep_freed_memory`` sets), so freed blocks stay in the heap.

In each subprocess, per-image forward ms (median over --reps calls after one warm-up) and minor
page faults per image (getrusage; independent of machine load) of: batch 4; batch 32 in one
forward; batch 32 run as inner batches of 4 and 8 (the other remedy).

Usage::

    python benchmarks/allocator.py [--model yolov5n] [--imgsz 640] [--rounds 2] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

VARIANTS = (("batch 4", 4, 0), ("batch 32", 32, 0), ("32 as 8x4", 32, 4), ("32 as 4x8", 32, 8))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="yolov5n")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="alternation rounds of the two arms")
    p.add_argument("--reps", type=int, default=3, help="timed calls per variant and round")
    p.add_argument("--arm", choices=["default", "mallopt"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    """In a subprocess: per variant, ms and minor faults per image."""
    import torch

    import yoloarena
    from yoloarena.allocator import keep_freed_memory

    if args.arm == "mallopt" and not keep_freed_memory():
        return {"error": "mallopt unavailable (not glibc)"}
    torch.set_num_threads(args.threads)
    net = yoloarena.load(args.model).model.deploy()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, args.imgsz, args.imgsz, generator=g)
    x = x.contiguous(memory_format=torch.channels_last)
    out = {}
    with torch.inference_mode():
        for label, batch, inner in VARIANTS:
            xb = x[:batch]
            run = (
                (lambda xb=xb: net(xb))
                if not inner
                else (lambda xb=xb, k=inner: [net(xb[i : i + k]) for i in range(0, len(xb), k)])
            )
            run()  # warm-up
            ms, faults = [], []
            for _ in range(args.reps):
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                run()
                ms.append((time.perf_counter() - t0) * 1e3 / batch)
                faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / batch)
            out[label] = {"ms": ms, "faults": faults}
    return out


def run_arm(arm: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--arm", arm, "--model", args.model, "--imgsz",
           str(args.imgsz), "--threads", str(args.threads), "--reps", str(args.reps)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    if res.returncode:
        raise SystemExit(f"arm {arm} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.arm:
        print(json.dumps(measure(args)))
        return
    from yoloarena.bench.environment import cpu_name, load_note

    print(f"allocator A/B: {args.model} at {args.imgsz}x{args.imgsz}, fp32, deployed, "
          f"{args.threads} torch threads; CPU {cpu_name()}")  # fmt: skip
    print(f"  {load_note()} (at the start)", flush=True)
    arms = ["default", "mallopt"]
    got: dict[str, dict[str, dict[str, list]]] = {a: {} for a in arms}
    for r in range(args.rounds):
        for arm in arms[::-1] if r % 2 else arms:
            print(f"  round {r + 1}: {arm} ...", file=sys.stderr, flush=True)
            res = run_arm(arm, args)
            if "error" in res:
                print(f"  {arm}: {res['error']}")
                arms.remove(arm)
                continue
            for label, v in res.items():
                slot = got[arm].setdefault(label, {"ms": [], "faults": []})
                slot["ms"] += v["ms"]
                slot["faults"] += v["faults"]
    print(f"\n{'arm':<9} {'variant':<11} {'ms/img median':>14} {'min':>7} {'faults/img':>11}")
    for arm in arms:
        for label, v in got[arm].items():
            print(f"{arm:<9} {label:<11} {statistics.median(v['ms']):14.1f} {min(v['ms']):7.1f} "
                  f"{statistics.median(v['faults']):11.0f}")  # fmt: skip
    base = got["default"]["batch 4"]["ms"]
    print("\nper-image time relative to default batch 4 (medians):")
    for arm in arms:
        parts = ", ".join(f"{label} {statistics.median(v['ms']) / statistics.median(base):.2f}x"
                          for label, v in got[arm].items())  # fmt: skip
        print(f"  {arm}: {parts}")
    print(f"\n{load_note()} (at the end)")


if __name__ == "__main__":
    main()
