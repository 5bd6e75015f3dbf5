"""Classification speed of yoloarena next to the official YOLOv5 v7.0 code, on CPU, in one run.

1. Forward latency (model only, batch 1, 224x224, fp32, `torch.set_num_threads(--threads)`) of
   yolov5n-cls and yolov5s-cls (`--models`): ours deployed (Conv+BN fused, channels-last input,
   what our predict feeds it) against the official `ClassificationModel(DetectionModel(<yaml>),
   nc=1000, cutoff=10)` after its `fuse()` (contiguous NCHW input), the SAME weights (ours, random
   init, loaded into the official model: the keys are identical), outputs checked to agree.
   `--runs` timed calls each after `--warmup`, alternated A B B A ... ; median, p90, and the
   ratio official/ours (> 1: ours is faster; target >= 1).
2. Training images/s for one epoch on CPU (`--train-rounds` rounds, the order flipped each
   round) on coco128-cls (coco128 cut by our `convert to=classify`: 929 crops in 71 classes in
   train/ and the same in val/), both sides starting yolov5n-cls from the shared detection
   checkpoint yolov5n.pt (its backbone; the head new), imgsz 224, batch `--batch`, the loader
   worker count upstream computes (min(cpu_count - 1, --workers)) on both sides:
   - ours: `python -m yoloarena train model=yolov5n.pt data=<coco128-cls> epochs=1 imgsz=224 ...`;
     epoch time = results.csv `time_s` (training loop, validation, last.pt/best.pt);
   - official: `python classify/train.py --model yolov5n.pt --data <coco128-cls> --epochs 1
     --img 224 ...` in YOLOV5_OFFICIAL; epoch time = from its progress bar's first drawing to its
     "Training complete" line (training loop, validation, last.pt/best.pt), stamped as printed.
   images/s = 929 / epoch time; ratio ours/official (target >= 1.2). Upstream trains with
   Albumentations when it is importable and with no augmentation at all otherwise (its eval
   transform); the script prints which one the official run used. Install `albumentations` into
   YOLOV5_OFFICIAL_DEPS to compare like with like (ours: random resized crop, flip, jitter).

Usage::

    python benchmarks/classify.py                 # ours only (the official part is skipped)
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
    YOLOV5_CONFIG_DIR=/tmp/yolov5_config python benchmarks/classify.py
    python benchmarks/classify.py --part forward --runs 5 --warmup 1     # a quick smoke run

The official checkout is prepared as benchmarks/README.md describes (shared/REFERENCE-RUNS.md);
the shared folder is never written to (coco128-cls is written to a temporary folder).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import torch
from common import shared_dir
from train import LAUNCHER, find_official, watch

from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.data.classify_convert import to_classify
from yoloarena.data.load import load_dataset
from yoloarena.registry import build_model

OFF_BAR = re.compile(r"^\s*1/\d+\s+[\d.]+G\s")  # the official epoch bar, once described
OFF_DONE = re.compile(r"^Training complete")
ALBU = re.compile(r"^albumentations: (.*)$")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("forward", "train", "both"), default="both")
    p.add_argument("--models", nargs="+", default=["yolov5n-cls", "yolov5s-cls"])
    p.add_argument("--imgsz", type=int, default=224)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)  # upstream classify/train.py's default
    p.add_argument("--workers", type=int, default=8)  # upstream's default, capped as upstream
    p.add_argument("--train-rounds", type=int, default=1)
    p.add_argument("--train-images", type=int, default=0, help="about N train crops (0: all)")
    p.add_argument("--quiet-wait", type=float, default=120.0)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=3600.0)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- forward latency


def official_classifier(root: Path, name: str):
    """The official v7.0 ClassificationModel of name, built as classify/train.py builds it."""
    threads = cv2.getNumThreads()  # utils.general sets cv2.setNumThreads(0) on import
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from models.yolo import ClassificationModel, DetectionModel
    cv2.setNumThreads(threads)
    det = DetectionModel(str(root / "models" / f"{name.removesuffix('-cls')}.yaml"))
    return ClassificationModel(model=det, nc=1000, cutoff=10)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def forward_rows(name: str, args: argparse.Namespace, off) -> list[str]:
    torch.manual_seed(0)
    ours = build_model(name).eval()
    x = torch.rand(1, 3, args.imgsz, args.imgsz)
    calls = {}
    with torch.inference_mode():
        if off is not None:
            official = official_classifier(off.root, name).eval()
            official.load_state_dict(ours.state_dict())
            official = official.fuse().eval()
        ours.deploy()
        x_cl = x.contiguous(memory_format=torch.channels_last)
        calls["ours"] = lambda: ours(x_cl)
        if off is not None:
            calls["official"] = lambda: official(x)
            a, b = calls["ours"](), calls["official"]()
            print(f"{name}: max |logit difference| ours vs official {(a - b).abs().max():.2e} "
                  f"(max |logit| {b.abs().max():.2e})")  # fmt: skip
        for fn in calls.values():
            for _ in range(args.warmup):
                fn()
        times: dict[str, list[float]] = {k: [] for k in calls}
        order = list(calls)
        for i in range(args.runs):
            for k in order if i % 2 == 0 else order[::-1]:  # A B B A ...
                times[k].append(timed(calls[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    p90 = {k: sorted(v)[int(0.9 * (len(v) - 1))] for k, v in times.items()}
    ratio = f"{med['official'] / med['ours']:.2f}" if "official" in med else "-"
    off_cell = f"{med['official']:.1f} ({p90['official']:.1f})" if "official" in med else "-"
    return [f"{name:<12} forward ms, median (p90)  {med['ours']:.1f} ({p90['ours']:.1f})"
            f"   official {off_cell}   ratio official/ours {ratio}"]  # fmt: skip


# ----------------------------------------------------------------------------- training


def stage_coco128_cls(tmp: Path, limit: int) -> tuple[Path, int]:
    """coco128 cut into classification crops under tmp (train/ and val/); the train count."""
    data = shared_dir() / "data" / "coco128" / "coco128.yaml"
    if not data.is_file():
        raise SystemExit(f"coco128 not found at {data} (set YOLOARENA_SHARED)")
    splits = {s: load_dataset(data, s) for s in ("train", "val")}
    out = tmp / "coco128-cls"
    to_classify(splits, out)
    if limit:  # keep about limit train images, at least one per class (ImageFolder needs it)
        folders = sorted(p for p in (out / "train").iterdir() if p.is_dir())
        per = max(1, limit // len(folders))
        for folder in folders:
            for f in sorted(folder.glob("*.jpg"))[per:]:
                f.unlink()
    return out, len(list((out / "train").rglob("*.jpg")))


def train_ours(data: Path, project: Path, args, workers: int) -> tuple[float, float]:
    weights = shared_dir() / "data" / "weights" / "yolov5n.pt"
    cmd = [sys.executable, "-c", LAUNCHER, "module", "yoloarena", "", "train", f"model={weights}",
           f"data={data}", "epochs=1", f"imgsz={args.imgsz}", f"batch={args.batch}",
           f"workers={workers}", "device=cpu", "plots=False", f"project={project}",
           "exist_ok=True"]  # fmt: skip
    run = watch(cmd, project.parent, args)
    if run.returncode != 0:
        raise SystemExit("ours failed:\n" + "\n".join(s for _, s in run.lines[-20:]))
    results = next(project.rglob("results.csv"))
    with results.open() as f:
        return float(next(csv.DictReader(f))["time_s"]), run.other_load


def train_official(off, data: Path, project: Path, args, workers: int):
    weights = shared_dir() / "data" / "weights" / "yolov5n.pt"
    cmd = [sys.executable, "-c", LAUNCHER, "path", "classify/train.py", off.deps, "--model",
           str(weights), "--data", str(data), "--epochs", "1", "--img", str(args.imgsz),
           "--batch-size", str(args.batch), "--workers", str(workers), "--device", "cpu",
           "--project", str(project), "--exist-ok"]  # fmt: skip
    run = watch(cmd, off.root, args)
    if run.returncode != 0:
        raise SystemExit("official failed:\n" + "\n".join(s for _, s in run.lines[-20:]))
    start = next(t for t, s in run.lines if OFF_BAR.match(s))
    end = next(t for t, s in run.lines if OFF_DONE.match(s))
    albu = next((m[1] for _, s in run.lines if (m := ALBU.match(s))), "not used")
    return end - start, run.other_load, albu


def train_rows(args: argparse.Namespace, off) -> list[str]:
    workers = min((os.cpu_count() or 1) - 1, args.workers)
    rows = []
    with tempfile.TemporaryDirectory(prefix="yoloarena-bench-cls-") as tmp:
        data, n = stage_coco128_cls(Path(tmp), args.train_images)
        os.environ["YOLOARENA_CACHE_DIR"] = tmp
        ours, official, notes = [], [], []
        for r in range(args.train_rounds):
            sides = ["ours", "official"] if r % 2 == 0 else ["official", "ours"]
            for side in sides:
                project = Path(tmp) / f"{side}{r}"
                if side == "ours":
                    t, load = train_ours(data, project, args, workers)
                    ours.append(t)
                elif off is not None:
                    t, load, albu = train_official(off, data, project, args, workers)
                    official.append(t)
                    notes.append(f"official augmentation: {albu}")
                else:
                    continue
                notes.append(f"round {r + 1} {side}: epoch {t:.1f} s, {n / t:.1f} img/s, other "
                             f"processes used {load:.2f} cores")  # fmt: skip
    ours_ips = n / statistics.median(ours)
    off_ips = n / statistics.median(official) if official else None
    ratio = f"{ours_ips / off_ips:.2f}" if off_ips else "-"
    off_cell = f"{off_ips:.1f}" if off_ips else "-"
    rows.append(f"yolov5n-cls  train img/s, one epoch ({n} images, batch {args.batch}, "
                f"{workers} workers)  {ours_ips:.1f}   official {off_cell}   ratio ours/official "
                f"{ratio}")  # fmt: skip
    return rows + [f"  {line}" for line in notes]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    off, why = find_official()
    if off is not None:
        sys.path.insert(0, str(off.root))
        if off.deps:
            sys.path.append(off.deps)
    print(f"classification benchmark on {cpu_name()}; {load_note()}; torch {torch.__version__}, "
          f"{args.threads} threads")  # fmt: skip
    print(f"official: {off.root if off else 'SKIPPED (' + why + ')'}")
    rows = []
    if args.part in ("forward", "both"):
        for name in args.models:
            rows += forward_rows(name, args, off)
    if args.part in ("train", "both"):
        rows += train_rows(args, off)
    print("\n".join(rows))
    print(f"after: {load_note()}")


if __name__ == "__main__":
    main()
