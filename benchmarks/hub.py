"""The torch.hub call ``model(ims)``: yoloarena next to the official YOLOv5 v7.0 AutoShape.

Both sides take the same list of image paths (default: the two shared images, zidane.jpg and
bus.jpg) with the same yolov5n.pt weights, and do everything the call does: open the files,
letterbox the batch to one shared shape, forward, NMS, map the boxes back, build the result
object. Ours = ``torch.hub.load(<this repo>, "custom", path=yolov5n.pt, source="local")``
(fused, channels-last); official = ``AutoShape(DetectMultiBackend(yolov5n.pt, fuse=True))``, what
its ``hubconf.custom`` returns. Calls alternate (A B B A ...) after a warm-up; the script prints
the median and p90 ms per image of each side, the ratio official/ours (above 1: ours is faster),
each side's own pre-process/inference/NMS split (``Detections.t``), and checks that the two sides
found the same boxes.

Usage::

    python benchmarks/hub.py                               # ours only; says how to add official
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
        YOLOV5_CONFIG_DIR=/tmp/yolov5_config python benchmarks/hub.py [--runs 20] [--augment]

YOLOV5_OFFICIAL is a scratch checkout of ultralytics/yolov5 at tag v7.0, patched to run offline
(see benchmarks/README.md and shared/REFERENCE-RUNS.md); it is put first on sys.path and
YOLOV5_OFFICIAL_DEPS last, so both sides use our numpy, torch and OpenCV.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from common import REPO, shared_dir

from yoloarena.bench.environment import cpu_name, load_note


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", nargs="+", default=None, help="default: shared zidane.jpg bus.jpg")
    p.add_argument("--size", type=int, default=640)
    p.add_argument("--runs", type=int, default=20, help="timed calls per side")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per side")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--augment", action="store_true", help="also time augment=True (TTA)")
    return p.parse_args(argv)


def official_autoshape(weights: Path) -> tuple[Any, str]:
    """The official AutoShape model (as hubconf.custom builds it), or None and the reason."""
    root = os.environ.get("YOLOV5_OFFICIAL")
    if not root:
        return (
            None,
            "SKIPPED: set YOLOV5_OFFICIAL (and YOLOV5_OFFICIAL_DEPS); see benchmarks/README.md",
        )
    if not (Path(root) / "models" / "common.py").is_file():
        return None, f"SKIPPED: YOLOV5_OFFICIAL={root} is not a yolov5 checkout"
    cv2_threads = cv2.getNumThreads()  # utils.general sets cv2.setNumThreads(0) on import
    sys.path.insert(0, str(Path(root).resolve()))
    if os.environ.get("YOLOV5_OFFICIAL_DEPS"):
        sys.path.append(str(Path(os.environ["YOLOV5_OFFICIAL_DEPS"]).resolve()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from models.common import AutoShape, DetectMultiBackend

            backend = DetectMultiBackend(str(weights), device=torch.device("cpu"), fuse=True)
            model = AutoShape(backend, verbose=False)
    except Exception as e:  # an unpatched checkout: report and go on with ours only
        return None, f"SKIPPED: the official code at {root} failed: {e!r}"
    finally:
        cv2.setNumThreads(cv2_threads)
    logging.getLogger("yolov5").setLevel(logging.WARNING)
    return model, f"AutoShape(DetectMultiBackend(fuse=True)) from {root}"


def time_alternating(fns: dict[str, Callable[[], Any]], runs: int, warmup: int):
    """ms per call of each fn, in turn (A B B A ...), and each fn's last result."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    last: dict[str, Any] = {}
    for i in range(warmup + runs):
        items = list(fns.items())
        for key, fn in items[::-1] if i % 2 else items:
            t0 = time.perf_counter()
            last[key] = fn()
            if i >= warmup:
                times[key].append((time.perf_counter() - t0) * 1e3)
    return times, last


def max_box_diff(ours: Any, official: Any) -> str:
    """Largest difference of the (n, 6) detections of the two sides, or why they differ."""
    worst = 0.0
    for a, b in zip(ours.xyxy, official.xyxy, strict=True):
        if a.shape != b.shape:
            return f"different counts {tuple(a.shape)} vs {tuple(b.shape)}"
        if len(a):
            worst = max(worst, float((a - b.cpu()).abs().max()))
    return f"max |ours - official| over boxes, confidences, classes: {worst:.1e}"


def report(label: str, times: dict[str, list[float]], last: dict[str, Any], n: int) -> None:
    med = {k: statistics.median(v) / n for k, v in times.items()}
    p90 = {k: float(np.percentile(v, 90)) / n for k, v in times.items()}
    print(f"{label}: ms per image ({n} images per call), median (p90)")
    for key in times:
        pre, inf, nms = last[key].t
        print(f"  {key:9s} {med[key]:8.1f} ({p90[key]:.1f})   own split: {pre:.1f} pre-process, "
              f"{inf:.1f} inference, {nms:.1f} NMS")  # fmt: skip
    if "official" in med:
        print(f"  ratio official/ours: {med['official'] / med['ours']:.2f}x (above 1: ours faster)")
        print(f"  {max_box_diff(last['ours'], last['official'])}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    images = args.images or [str(shared_dir() / "data" / "images" / n)
                             for n in ("zidane.jpg", "bus.jpg")]  # fmt: skip
    weights = shared_dir() / "data" / "weights" / "yolov5n.pt"
    if not weights.is_file():
        raise SystemExit(f"{weights} not found (set YOLOARENA_SHARED)")
    ours = torch.hub.load(str(REPO), "custom", path=str(weights), source="local")
    official, note = official_autoshape(weights)
    print("hub call benchmark: model(ims) with yolov5n.pt, CPU fp32")
    print(f"  torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cv2 {cv2.__version__}, python {platform.python_version()}; "
          f"CPU: {cpu_name()} ({os.cpu_count()} cores)")  # fmt: skip
    print(f"  images: {', '.join(Path(p).name for p in images)}; size {args.size}; "
          f"{args.warmup} warm-up + {args.runs} timed calls per side, alternating")  # fmt: skip
    print(f"  official: {note}")
    print(f"  {load_note()} (at the start)\n", flush=True)
    warnings.filterwarnings("ignore", category=FutureWarning)  # the official torch.cuda.amp use
    modes = [False, True] if args.augment else [False]
    for augment in modes:
        fns = {"ours": lambda a=augment: ours(images, size=args.size, augment=a)}
        if official is not None:
            fns["official"] = lambda a=augment: official(images, size=args.size, augment=a)
        times, last = time_alternating(fns, args.runs, args.warmup)
        report("augment=True (TTA)" if augment else "plain call", times, last, len(images))
    print(f"\n  {load_note()} (at the end)")


if __name__ == "__main__":
    main()
