"""Validation wall time of yoloarena next to the official YOLOv5 v7.0 val.py, in one run on CPU.

yolov5n with the official yolov5n.pt on coco128 (128 images), imgsz 640, batch 32, conf 0.001,
IoU 0.6, fp32, torch.set_num_threads(2). Each round runs, in turn (reversed every other round,
so each side goes first half of the time):

- ours, ``validate()`` only: ``yoloarena.load(weights).deploy()`` + ``load_dataset(yaml, "val")``
  + ``validate(model, dataset, imgsz=640, batch=32)``; wall time and its stage timings;
- official ``val.run(..., plots=False)`` in this process (model load, dataloader, NMS, metrics);
- official ``val.run(..., plots=True)`` (its default) and ours through the CLI path,
  ``run_val(ValConfig(...))`` (results.json, predictions.json, PR/P/R/F1/confusion plots);
  ``--no-plots-pair`` leaves this pair out.

Both sides read a copy of coco128 in a temporary folder (the official loader writes
``labels/train2017.cache`` next to the labels, ours its scan cache under $YOLOARENA_CACHE_DIR,
set to the same temporary folder); both caches are written before the timing starts. After the
rounds, the scoring step alone: ``evaluate_coco`` (faster-coco-eval) against pycocotools on our
predictions, alternated, and the official val.run once more with save_json=True, whose own
pycocotools step gives the official AP/AP50 comparable with ours.

Usage::

    python benchmarks/val.py                        # ours only; says the official part is skipped
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
    YOLOV5_CONFIG_DIR=/tmp/yolov5_config python benchmarks/val.py [--rounds 3] [--score-reps 5]

YOLOV5_OFFICIAL is a scratch checkout of ultralytics/yolov5 at tag v7.0 (outside this repo),
patched to run offline as in shared/REFERENCE-RUNS.md; YOLOV5_OFFICIAL_DEPS holds its extra
dependencies (appended to sys.path, so our own packages take precedence); YOLOV5_CONFIG_DIR holds
its fonts. Shared assets are found through YOLOARENA_SHARED (default: ../shared next to the repo).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import io
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import torch
import yaml
from common import shared_dir, stage_coco128

import yoloarena
from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.data.load import load_dataset
from yoloarena.engine.backends import resolve_backend
from yoloarena.engine.val_job import ValConfig, run_val
from yoloarena.engine.validator import validate
from yoloarena.eval.coco import STAT_NAMES, evaluate_coco

IMGSZ, BATCH, CONF, IOU = 640, 32, 0.001, 0.6
SKIP_HINT = (
    "official comparison SKIPPED: set YOLOV5_OFFICIAL to a patched v7.0 checkout of "
    "ultralytics/yolov5 (and YOLOV5_OFFICIAL_DEPS to its extra deps); see benchmarks/README.md"
)
AUTO = "ours: validate(), backend=auto"
THREAD_ERRORS: list[str] = []  # exceptions raised in background threads (official plot_images)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternation rounds of the full val")
    p.add_argument("--score-reps", type=int, default=5, help="timed repetitions of the scoring")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--no-auto", action="store_true", help="skip ours with backend=auto")
    p.add_argument(
        "--no-plots-pair",
        action="store_true",
        help="skip ours via the CLI with plots and official val.run(plots=True)",
    )
    p.add_argument(
        "--no-official-json",
        action="store_true",
        help="skip the extra official run with save_json=True (official AP via pycocotools)",
    )
    return p.parse_args(argv)


def write_coco_gt(yaml_path: Path) -> dict:
    """The ground truth as COCO json, where the official save_json step looks for it."""
    gt = load_dataset(yaml_path, "val").to_coco()  # also writes our scan cache
    out = yaml_path.parent / "annotations" / "instances_val2017.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(gt))
    return gt


def import_official() -> tuple[SimpleNamespace | None, str]:
    """The official val module (loaded from its file, in this process), or None and the reason."""
    root = os.environ.get("YOLOV5_OFFICIAL")
    if not root:
        return None, "YOLOV5_OFFICIAL is not set"
    root_path = Path(root).resolve()
    if not (root_path / "val.py").is_file():
        return None, f"YOLOV5_OFFICIAL={root} is not a yolov5 checkout"
    cv2_threads = cv2.getNumThreads()  # utils.general sets cv2.setNumThreads(0) on import
    sys.path.insert(0, str(root_path))  # its `models` and `utils` packages
    if os.environ.get("YOLOV5_OFFICIAL_DEPS"):
        sys.path.append(str(Path(os.environ["YOLOV5_OFFICIAL_DEPS"]).resolve()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = importlib.util.spec_from_file_location("yolov5_val", root_path / "val.py")
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            from utils.dataloaders import LoadImagesAndLabels
    except Exception as e:  # an unpatched or incomplete checkout: report, then go on
        return None, f"importing the official val.py from {root} failed: {e!r}"
    finally:
        cv2.setNumThreads(cv2_threads)
    logging.getLogger("yolov5").setLevel(logging.WARNING)
    return SimpleNamespace(root=root_path, run=module.run, dataset=LoadImagesAndLabels), ""


def prime_official_cache(off: SimpleNamespace, yaml_path: Path) -> None:
    """Let the official loader write labels/train2017.cache before the timing."""
    images = yaml_path.parent / yaml.safe_load(yaml_path.read_text())["val"]
    with contextlib.redirect_stderr(io.StringIO()):
        off.dataset(str(images), IMGSZ, BATCH, rect=True, stride=32, pad=0.5, prefix="")


def run_ours(yaml_path: Path, weights: Path, backend: str | None = None) -> dict[str, Any]:
    """validate() only, timed from the model load: seconds per stage, AP, the result. backend:
    resolve_backend's choice (auto: the export cache, built before the timing; reading it and
    making the runtime session count as model load)."""
    t0 = time.perf_counter()
    model = resolve_backend(yoloarena.load(weights).deploy(), backend, IMGSZ)
    t1 = time.perf_counter()
    dataset = load_dataset(yaml_path, "val")
    t2 = time.perf_counter()
    result = validate(model, dataset, imgsz=IMGSZ, batch=BATCH)
    wall = time.perf_counter() - t0
    stages = {"model load": t1 - t0, "dataset load": t2 - t1, **result.timings}
    stages["other"] = wall - sum(stages.values())
    stats = result.metrics.stats
    return {"wall": wall, **stages, "AP": stats["AP"], "AP50": stats["AP50"], "result": result,
            "backend": getattr(model, "backend", "torch")}  # fmt: skip


def run_ours_cli(yaml_path: Path, weights: Path, project: Path) -> dict[str, Any]:
    """The `yoloarena val` path: run_val writes results, predictions and plots."""
    cfg = ValConfig(
        model=str(weights), data=str(yaml_path), imgsz=IMGSZ, batch=BATCH,
        project=str(project), name="ours", exist_ok=True, verbose=False,
    )  # fmt: skip
    t0 = time.perf_counter()
    _, result = run_val(cfg)
    wall = time.perf_counter() - t0
    outside = wall - sum(result.timings.values())  # loads, plots, json, run folder
    return {"wall": wall, **result.timings, "outside": outside, "AP": result.metrics.stats["AP"]}


def run_official(off: SimpleNamespace, yaml_path: Path, weights: Path, project: Path, **kw) -> dict:
    """official val.run in this process: wall s, its per-image ms, its metrics."""
    before = set(threading.enumerate())
    errors = len(THREAD_ERRORS)
    t0 = time.perf_counter()
    quiet = io.StringIO()  # its progress bar and the pycocotools printout of save_json
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        (mp, mr, map50, map_, *_), _, ms = off.run(
            data=str(yaml_path), weights=str(weights), imgsz=IMGSZ, batch_size=BATCH,
            conf_thres=CONF, iou_thres=IOU, device="cpu", half=False,
            project=str(project), name="official", exist_ok=True, **kw,
        )  # fmt: skip
    wall = time.perf_counter() - t0
    for thread in set(threading.enumerate()) - before:  # no overlap with the next run
        if "plot" in thread.name:  # its @threaded plot_images (not tqdm's monitor)
            thread.join(timeout=60)
    out = {"wall": wall, "pre-process": ms[0], "inference": ms[1], "NMS": ms[2]}
    out["other"] = wall * 1e3 / 128 - sum(ms)
    out |= {"P": mp, "R": mr, "AP50": map50, "AP": map_}
    out["thread errors"] = len(THREAD_ERRORS) - errors
    return out


def in_turn(fns: dict[str, Any], i: int) -> list[tuple[str, Any]]:
    """The items of fns, reversed on odd rounds (A B B A ...)."""
    items = list(fns.items())
    return items[::-1] if i % 2 else items


def bench_rounds(fns: dict[str, Callable[[], dict]], rounds: int) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {k: [] for k in fns}
    for i in range(rounds):
        for key, fn in in_turn(fns, i):
            print(f"  round {i + 1}/{rounds}: {key} ...", file=sys.stderr, flush=True)
            runs[key].append(fn())
    return runs


def pycocotools_stats(gt: dict, preds: list[dict], image_ids: list[int]) -> dict[str, float]:
    """COCO/COCOeval of pycocotools: index the gt, loadRes, evaluate, accumulate, summarize."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(preds), "bbox")
        ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(STAT_NAMES, ev.stats, strict=True)}


def bench_scoring(gt: dict, preds: list[dict], reps: int) -> dict[str, dict]:
    """Seconds per scoring call (1 warm-up, then reps alternated) and the stats of each side."""
    ids = [im["id"] for im in gt["images"]]
    fns = {
        "ours (evaluate_coco, faster-coco-eval)": lambda g, p: evaluate_coco(g, p, ids).stats,
        "pycocotools": lambda g, p: pycocotools_stats(g, p, ids),
    }
    out: dict[str, dict] = {k: {"seconds": []} for k in fns}
    for i in range(reps + 1):
        for key, fn in in_turn(fns, i):
            g, p = copy.deepcopy(gt), copy.deepcopy(preds)  # loadRes adds fields to the dicts
            t0 = time.perf_counter()
            out[key]["stats"] = fn(g, p)
            if i:
                out[key]["seconds"].append(time.perf_counter() - t0)
    return out


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def versions() -> str:
    found = []
    for name in ("pycocotools", "faster-coco-eval"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def print_header(args: argparse.Namespace, weights: Path, off_note: str) -> None:
    print("yoloarena validation benchmark (CPU, fp32): yolov5n on coco128 (128 images)")
    print(
        f"  torch {torch.__version__}, threads {torch.get_num_threads()}, cv2 {cv2.__version__} "
        f"threads {cv2.getNumThreads()}, numpy {np.__version__}, python {platform.python_version()}"
    )
    print(f"  {versions()}; CPU: {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"  weights {weights}; imgsz {IMGSZ}, batch {BATCH}, conf {CONF}, iou {IOU}")
    print(f"  rounds: {args.rounds}, alternated (ours, official, official, ours, ...); medians")
    print(f"  official: {off_note}")
    print(f"  {load_note()} (at the start)\n", flush=True)


def print_walls(runs: dict[str, list[dict]]) -> None:
    """Median wall time per implementation, every round's value, and the ratios of the pairs."""
    print(f"{'full val wall time (s)':<44} {'median':>7}   rounds")
    for key, rs in runs.items():
        each = " ".join(f"{r['wall']:.1f}" for r in rs)
        print(f"  {key:<42} {med(rs, 'wall'):7.2f}   {each}")
    pairs = (
        ("ours: validate()", "official: val.run(plots=False)"),
        (AUTO, "official: val.run(plots=False)"),
        ("ours: CLI run_val (plots, json)", "official: val.run(plots=True)"),
    )
    for ours, off in pairs:
        if ours in runs and off in runs:
            ratio = med(runs[ours], "wall") / med(runs[off], "wall")
            rounds = zip(runs[ours], runs[off], strict=True)
            each = " ".join(f"{a['wall'] / b['wall']:.2f}" for a, b in rounds)
            target = "0.5" if ours == AUTO else "0.7"
            print(f"  ratio {ours} / {off}: {ratio:.2f}x (target <= {target}); per round {each}")
    print()


def print_breakdown(runs: dict[str, list[dict]]) -> None:
    keys = ("model load", "dataset load", "data", "forward", "nms", "scoring", "other")
    print("where the time goes (medians over the rounds):")
    for label, key in (("ours validate()", "ours: validate()"), ("ours backend=auto", AUTO)):
        if key not in runs:
            continue
        ours = runs[key]
        parts = ", ".join(f"{k} {med(ours, k):.2f}" for k in keys)
        per = ", ".join(f"{k} {med(ours, k) * 1e3 / 128:.1f}" for k in keys)
        print(f"  {label} (runs {ours[-1]['backend']}), s: {parts}")
        print(f"    per image, ms: {per}")
    print("    (data = waiting for batches; nms = NMS + unletterbox + COCO dicts + confusion)")
    if "ours: CLI run_val (plots, json)" in runs:
        outside = med(runs["ours: CLI run_val (plots, json)"], "outside")
        print(f"  ours CLI: {outside:.2f} s outside the validate() stages (model and dataset load,")
        print("    results/predictions json, PR/P/R/F1/confusion plots, run folder)")
    for key in ("official: val.run(plots=False)", "official: val.run(plots=True)"):
        if key in runs:
            rs = runs[key]
            ms = ", ".join(f"{k} {med(rs, k):.1f}" for k in ("pre-process", "inference", "NMS"))
            print(f"  {key}, its ms per image: {ms}; other {med(rs, 'other'):.1f}")
    errors = sum(r["thread errors"] for r in runs.get("official: val.run(plots=True)", []))
    if errors:
        print(f"  official plot_images threads failed {errors} times: {THREAD_ERRORS[-1]}")
        print("    (so its val_batch*.jpg mosaics were not drawn: less plotting than intended)")
    print()


def print_scoring(scoring: dict[str, dict]) -> None:
    ra, rb = scoring.values()
    print("scoring only, same predictions and gt (COCO from the gt dict, loadRes, evaluate,")
    print("accumulate, summarize; ours also per-class AP and P/R/F1 curves):")
    for key, r in scoring.items():
        secs = " ".join(f"{s:.2f}" for s in r["seconds"])
        st = r["stats"]
        print(f"  {key:<40} {statistics.median(r['seconds']):6.3f} s  ({secs})  "
              f"AP {st['AP']:.6f} AP50 {st['AP50']:.6f}")  # fmt: skip
    diff = max(abs(ra["stats"][k] - rb["stats"][k]) for k in STAT_NAMES)
    speed = statistics.median(rb["seconds"]) / statistics.median(ra["seconds"])
    print(f"  max |difference| over the 12 stats: {diff:.1e}; ours is {speed:.1f}x faster\n")


def print_metrics(runs: dict[str, list[dict]], scoring: dict, off_json: dict | None) -> None:
    rows = [
        ("ours, validate() (faster-coco-eval)", runs["ours: validate()"][-1]),
        *([("ours, validate() with backend=auto", runs[AUTO][-1])] if AUTO in runs else []),
        ("ours, same predictions through pycocotools", scoring["pycocotools"]["stats"]),
    ]
    if "official: val.run(plots=False)" in runs:
        off = runs["official: val.run(plots=False)"][-1]
        rows.append(("official val.run, its own mAP (ap_per_class)", off))
    if off_json:
        label = f"official val.run(save_json=True), its pycocotools step ({off_json['wall']:.1f} s)"
        rows.append((label, off_json))
    print(f"{'AP / AP50':<64} {'AP':>7} {'AP50':>7}")
    for label, stats in rows:
        print(f"  {label:<62} {stats['AP']:7.4f} {stats['AP50']:7.4f}")
    print()


def benchmark(args: argparse.Namespace, off: SimpleNamespace | None, tmp: Path, weights: Path):
    """(runs per implementation, scoring comparison, official save_json run or None)."""
    yaml_path = stage_coco128(tmp)
    gt = write_coco_gt(yaml_path)
    project = tmp / "runs"
    fns: dict[str, Callable[[], dict]] = {"ours: validate()": lambda: run_ours(yaml_path, weights)}
    if not args.no_auto:
        auto = resolve_backend(yoloarena.load(weights).deploy(), "auto", IMGSZ)  # the cache
        print(f"  backend=auto chose {getattr(auto, 'backend', 'torch')}", file=sys.stderr)
        fns[AUTO] = lambda: run_ours(yaml_path, weights, "auto")
    if off is not None:
        prime_official_cache(off, yaml_path)
        fns["official: val.run(plots=False)"] = lambda: run_official(
            off, yaml_path, weights, project, plots=False
        )
        if not args.no_plots_pair:
            fns["official: val.run(plots=True)"] = lambda: run_official(
                off, yaml_path, weights, project, plots=True
            )
    if not args.no_plots_pair:
        fns["ours: CLI run_val (plots, json)"] = lambda: run_ours_cli(yaml_path, weights, project)
    runs = bench_rounds(fns, args.rounds)
    print("  scoring ...", file=sys.stderr, flush=True)
    preds = runs["ours: validate()"][-1]["result"].predictions
    # the fields of a COCO result only: loadRes in validate() added area, id, tp, ... to them
    preds = [{k: p[k] for k in ("image_id", "category_id", "bbox", "score")} for p in preds]
    scoring = bench_scoring(gt, preds, args.score_reps)
    off_json = None
    if off is not None and not args.no_official_json:
        print("  official with save_json ...", file=sys.stderr, flush=True)
        off_json = run_official(off, yaml_path, weights, project, plots=False, save_json=True)
    return runs, scoring, off_json


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("yoloarena").setLevel(logging.WARNING)
    threading.excepthook = lambda a: THREAD_ERRORS.append(f"{a.exc_type.__name__}: {a.exc_value}")
    weights = shared_dir() / "data" / "weights" / "yolov5n.pt"
    if not weights.is_file():
        raise SystemExit(f"{weights} not found (set YOLOARENA_SHARED)")
    off, why = import_official()
    off_note = f"ultralytics/yolov5 val.py from {off.root}" if off else f"SKIPPED ({why})"
    print_header(args, weights, off_note)
    with tempfile.TemporaryDirectory(prefix="yoloarena-valbench-") as tmp:
        os.environ["YOLOARENA_CACHE_DIR"] = str(Path(tmp) / "cache")
        runs, scoring, off_json = benchmark(args, off, Path(tmp), weights)
    print_walls(runs)
    print_breakdown(runs)
    print_scoring(scoring)
    print_metrics(runs, scoring, off_json)
    print(load_note() + " (at the end)")
    if off is None:
        print(f"\n{SKIP_HINT}\n  reason: {why}")


if __name__ == "__main__":
    main()
