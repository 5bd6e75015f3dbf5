"""MAE-NAS search on this machine: scoring throughput, latency predictor error, and a search at
the latency of DAMO-YOLO-T.

1. Scoring throughput: MadNAS scores per second, and full candidate checks per second (score
   plus params and GFLOPs of the whole detector, the work of one search iteration without
   latency), over random valid k1kx structures.
2. Latency predictor error: `--structures` (30) random valid structures (a seeded mutation walk
   from the initial structure, spread out), each with DAMO-YOLO-T's neck and head; predicted
   (per-part table + the constant calibrated on the initial structure and T) against the
   whole network measured by the benchmark's latency code (model only, batch 1, median of
   `--runs`); median and max |error| in %.
3. A search at DAMO-YOLO-T's measured latency (`--backend`, `--imgsz`): `yoloarena search
   budget_latency=<T's latency>`, then the result's score and measured latency next to T's.
   Target: a higher score than T's at equal or lower measured latency.

The latency table is cached per machine and backend (~/.cache/yoloarena/latency), so a second
run reuses the parts timed by the first; pass --fresh-table to time everything again.

Usage::

    python benchmarks/search.py               # onnx at 640: 30 structures, 20000 iterations
    python benchmarks/search.py --backend openvino --imgsz 416
    python benchmarks/search.py --imgsz 128 --structures 3 --iterations 200 --population 16 \\
        --runs 3 --backend torch                         # a smoke test (a minute)
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.models.damoyolo.madnas import score
from yoloarena.models.damoyolo.parts import detector_costs
from yoloarena.models.damoyolo.space import SearchSpace
from yoloarena.models.damoyolo.structure import STRUCTURES, Structure
from yoloarena.search import SearchConfig, run_search
from yoloarena.search.latency_table import LatencyPredictor, LatencyTable

NECK = "damoyolo-t"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", default="onnx", choices=["torch", "onnx", "openvino"])
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--structures", type=int, default=30)
    p.add_argument("--iterations", type=int, default=20000)
    p.add_argument("--population", type=int, default=512)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh-table", action="store_true", help="time every part again")
    p.add_argument("--plot", default="", help="copy the search's plot here (e.g. docs/...png)")
    p.add_argument("--out", default="", help="run folder parent (default: a temporary folder)")
    return p.parse_args(argv)


def random_structures(n: int, seed: int, spread: int = 40) -> list[Structure]:
    """n distinct valid k1kx structures from a seeded walk (every `spread`-th step of a walk
    over a small pool, so they differ in several blocks)."""
    space, rng = SearchSpace("k1kx"), random.Random(seed)
    pool, out = [space.initial()], []
    step = 0
    while len(out) < n:
        child = space.mutate(rng.choice(pool), rng)
        pool.append(child)
        if len(pool) > 32:
            pool.pop(rng.randrange(len(pool)))
        step += 1
        if step % spread == 0 and child not in out:
            out.append(child)
    return out


def throughput(imgsz: int) -> tuple[float, float, int]:
    structures = random_structures(2000, seed=1, spread=3)
    t0 = time.perf_counter()
    for st in structures:
        score(st)
    scores = len(structures) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for st in structures:
        score(st)
        detector_costs(st, NECK, 80, imgsz)
    checks = len(structures) / (time.perf_counter() - t0)
    return scores, checks, len(structures)


def predictor_error(args, predictor: LatencyPredictor) -> list[tuple[Structure, float, float]]:
    rows = []
    for i, st in enumerate(random_structures(args.structures, args.seed + 1)):
        predicted = predictor.predict(st, NECK)
        measured = predictor.measure(st, NECK, fresh=True)
        rows.append((st, predicted, measured))
        err = 100 * (predicted - measured) / measured
        print(
            f"  {i + 1:2d}/{args.structures} {st.describe():70s} predicted {predicted:8.2f} "
            f"ms  measured {measured:8.2f} ms  {err:+6.1f}%",
            flush=True,
        )
    return rows


def section_throughput(args) -> None:
    scores, checks, n = throughput(args.imgsz)
    print(f"\n## 1. Scoring throughput ({n} random valid k1kx structures)")
    print(
        f"MadNAS score only: {scores:,.0f} structures/s; score + detector params/GFLOPs at "
        f"{args.imgsz}: {checks:,.0f} structures/s"
    )


def section_predictor(args, tmp: Path) -> LatencyPredictor:
    table_path = tmp / "table.json" if args.fresh_table else None
    table = LatencyTable(
        args.backend, runs=max(args.runs // 2, 3), warmup=args.warmup, path=table_path
    )
    predictor = LatencyPredictor(table, 80, args.imgsz, args.runs, args.warmup)
    t0 = time.perf_counter()
    constant = predictor.calibrate(NECK, [SearchSpace("k1kx").initial(), STRUCTURES["T"]])
    print(
        f"\n## 2. Latency predictor error ({args.structures} random valid structures, "
        f"{NECK}'s neck and head)"
    )
    print(f"table {table.path} ({len(table.parts)} parts); constant {constant:+.2f} ms")
    rows = predictor_error(args, predictor)
    errors = [abs(100 * (p - m) / m) for _, p, m in rows]
    print(
        f"|error| median {statistics.median(errors):.1f}%, max {max(errors):.1f}% "
        f"({time.perf_counter() - t0:.0f} s, {table.measured} parts timed)"
    )
    return predictor


def section_search(args, predictor: LatencyPredictor, root: Path) -> Path:
    t_struct = STRUCTURES["T"]
    t_latency = predictor.measure(t_struct, NECK, fresh=True)
    print(
        f"\n## 3. Search at DAMO-YOLO-T's latency ({t_latency:.2f} ms, {args.backend}, "
        f"{args.imgsz}px)"
    )
    cfg = SearchConfig(
        budget_latency=t_latency,
        backend=args.backend,
        imgsz=args.imgsz,
        iterations=args.iterations,
        population=args.population,
        seed=args.seed,
        runs=args.runs,
        warmup=args.warmup,
        table=str(predictor.table.path),
        project=str(root),
        name="at-t-latency",
    )
    t0 = time.perf_counter()
    out, summary = run_search(cfg)
    best, err = summary["best"], summary["predictor_error"]
    t_score = score(t_struct).total
    print("\n| model | MadNAS score | latency measured, ms | GFLOPs | params, M |")
    print("|---|---:|---:|---:|---:|")
    for r in summary["released"]:
        print(
            f"| {r['model']} (released) | {r['score']:.1f} | {r['latency_measured_ms']:.2f} | "
            f"{r['gflops']:.2f} | {r['params_m']:.2f} |"
        )
    print(
        f"| searched ({best['structure']}) | {best['score']:.1f} | "
        f"{best['latency_measured_ms']:.2f} | {best['gflops']:.2f} | {best['params_m']:.2f} |"
    )
    ratio, speed = best["score"] / t_score, best["latency_measured_ms"] / t_latency
    met = "target met" if ratio > 1 and speed <= 1 else "target NOT met"
    print(
        f"searched vs T ({t_latency:.2f} ms measured just before the search): score x{ratio:.2f} "
        f"at x{speed:.2f} the latency ({met}); predictor error over the re-measured best: median "
        f"{err['median_abs_pct']:.1f}%, max {err['max_abs_pct']:.1f}%; "
        f"search {time.perf_counter() - t0:.0f} s; run {out}"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"# MAE-NAS search benchmark: {cpu_name()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), backend {args.backend}, {args.imgsz}px"
    )
    print(f"# {load_note()}")
    section_throughput(args)
    tmp = Path(tempfile.mkdtemp(prefix="yoloarena-search-bench-"))
    predictor = section_predictor(args, tmp)
    out = section_search(args, predictor, Path(args.out) if args.out else tmp)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "search.png", args.plot)
        print(f"plot copied to {args.plot}")
    print(f"# {load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
