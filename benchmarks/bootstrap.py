"""Cost of compare's paired bootstrap next to one full COCO evaluation, on coco128 with 3 models.

The 3 models are prediction sets on coco128 (the 128 train2017 images, as val.py scores them): the
official yolov5n predictions (`shared/reference/yolov5n_coco128_val_predictions.json.gz`, conf
0.001, 27k detections) and the same with every box moved by about 3 % and 8 % of its size (seeded),
so that all three have the size and score spread of a real model. Pass `--predictions a.json
b.json ...` (COCO result files on coco128) to time other sets.

Printed, each the median of `--reps` runs (models in turn):

- `evaluate_coco` (faster-coco-eval: evaluate, accumulate, summarize, per-class P/R/F1) per model:
  the evaluation compare already runs once per model;
- `evaluate_coco(records=True)` per model: the same evaluation keeping per-image records (COCO's
  matching replayed once on its IoUs), as compare's validation does; the difference is the
  records' cost;
- `bootstrap` of the 3 models' records: `--resamples` (1000) paired resamples, AP, AP50, AP75;
- ratios: (records + bootstrap) over the 3 evaluations, and, with `--val`, over compare's whole
  evaluation of 3 models (3 x the wall time of `validate()` of the official yolov5n on coco128 at
  640 on CPU: inference, NMS and scoring), the figure the issue's target (< 20 %) is about.

It also prints the example intervals and the verdict of the top two, and checks that the
identity resample gives the evaluator's AP (|diff| <= 1e-9).

Usage::

    python benchmarks/bootstrap.py                    # the figures (quiet machine): about 1-2 min
    python benchmarks/bootstrap.py --reps 1 --resamples 100 --no-val   # smoke test
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
from common import shared_dir

from yoloarena.eval.bootstrap import bootstrap
from yoloarena.eval.coco import evaluate_coco


def jittered(preds: list[dict], frac: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for d in preds:
        x, y, w, h = d["bbox"]
        dx, dy, dw, dh = rng.normal(0, frac, 4) * [w, h, w, h]
        out.append({**d, "bbox": [x + dx, y + dy, max(w + dw, 1.0), max(h + dh, 1.0)]})
    return out


def timed(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def validate_seconds(reps: int) -> float:
    """Wall time of validate() of the official yolov5n on coco128 at 640 (one model's share of
    compare's evaluation)."""
    import torch

    import yoloarena
    from yoloarena.data.load import load_dataset
    from yoloarena.engine.validator import validate

    torch.set_num_threads(2)
    weights = shared_dir() / "data" / "weights" / "yolov5n.pt"
    model = yoloarena.load(weights).deploy()
    dataset = load_dataset(str(shared_dir() / "data" / "coco128" / "coco128.yaml"), "val")
    validate(model, dataset, imgsz=640, batch=32, workers=0)  # warm-up (and the label cache)
    return timed(lambda: validate(model, dataset, imgsz=640, batch=32, workers=0), reps)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictions", nargs="*", help="COCO result files on coco128 (3 expected)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--val",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time validate() of yolov5n on coco128 (compare's evaluation)",
    )
    args = ap.parse_args()
    shared = shared_dir()
    gt = json.loads((shared / "data/coco128/annotations/instances_train2017_from_yolo.json")
                    .read_text())  # fmt: skip
    if args.predictions:
        models = {Path(p).stem: json.loads(Path(p).read_text()) for p in args.predictions}
    else:
        with gzip.open(shared / "reference" / "yolov5n_coco128_val_predictions.json.gz") as f:
            official = json.load(f)
        models = {"yolov5n": official, "jitter3": jittered(official, 0.03, 1),
                  "jitter8": jittered(official, 0.08, 2)}  # fmt: skip
    print(
        f"load average {os.getloadavg()}; {len(models)} models, "
        f"{sum(len(p) for p in models.values())} detections, {len(gt['images'])} images"
    )
    evals, recs, rec_s = {}, {}, {}
    for name, preds in models.items():
        t, result = timed(lambda p=preds: evaluate_coco(gt, p), args.reps)
        evals[name] = (t, result.stats)
        t_rec, result = timed(lambda p=preds: evaluate_coco(gt, p, records=True), args.reps)
        rec_s[name], recs[name] = max(t_rec - t, 0.0), result.records
    boot_s, boot = timed(lambda: bootstrap(recs, args.resamples, args.seed), args.reps)
    eval_total = sum(t for t, _ in evals.values())
    print(f"\n{'model':>10} {'evaluate_coco s':>16} {'+ records s':>12} {'AP':>8} "
          f"{'95% interval':>18} {'|AP - evaluator|':>17}")  # fmt: skip
    for name in models:
        t, stats = evals[name]
        lo, hi = boot.interval(name, "AP")
        err = abs(boot.point[name]["AP"] - stats["AP"])
        print(f"{name:>10} {t:16.3f} {rec_s[name]:12.3f} {boot.point[name]['AP']:8.4f} "
              f"[{lo:.4f}, {hi:.4f}] {err:17.2e}")  # fmt: skip
        assert err <= 1e-9, f"{name}: identity resample {err:.3g} off the evaluator"
    print(f"\nbootstrap, {args.resamples} resamples x {len(models)} models: {boot_s:.3f} s")
    for metric in ("AP", "AP50"):
        print(f"verdict {metric}: {boot.verdict(metric)}")
    extra = boot_s + sum(rec_s.values())
    print(f"\nfull COCO evaluations ({len(models)} models): {eval_total:.3f} s")
    print(
        f"records + bootstrap: {extra:.3f} s = {extra / eval_total:.2f} x the evaluations "
        f"(bootstrap alone {boot_s / eval_total:.2f} x)"
    )
    if args.val:
        val_s = validate_seconds(args.reps)
        total = len(models) * val_s
        print(
            f"validate() of yolov5n on coco128 at 640: {val_s:.2f} s per model; compare's "
            f"evaluation of {len(models)} models ~{total:.1f} s; the bootstrap adds "
            f"{extra / total:.1%} (target < 20%)"
        )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
