"""Prediction speed of yoloarena next to the official YOLOv5 v7.0, measured in one run on CPU.

Two measurements per model (default yolov5n and yolov5s), ours and official alternated so that
drift on a noisy machine hits both, each going first half of the time (A B B A A B ...):

1. model-only forward latency: batch 1, 640x640, Conv+BN fused, fp32, median and p90 ms.
   ours = ``yoloarena.load(...).deploy()``; official = ``DetectionModel(<name>.yaml).fuse()``
   with the same weights copied in (the outputs are checked to match).
2. end-to-end images/s: ours = ``model.predict(paths, conf=0.25, iou=0.45, max_det=1000)``
   (decode, letterbox, forward, NMS, mapping back); official = the detect.py loop (LoadImages,
   DetectMultiBackend fused, non_max_suppression, scale_boxes; no saving or drawing). The image
   list is split into chunks; each chunk runs once per implementation, alternating.

Ours runs twice: with the module as loaded, and with ``backend=auto`` ("ours auto": the fastest
of PyTorch, ONNX Runtime and OpenVINO measured for the model here, exported once into a temporary
cache before the timing; ``--no-auto`` leaves it out); each gets its ratio against the official
code (targets for auto: end to end >= 2x official images/s). yoloarena's predict runs under its
thread policy (yoloarena.threads: fewer threads and passive waiting when other processes load
the cores; YOLOARENA_THREADS=off pins ``--threads``) and keeps freed memory in glibc's heap
(mallopt, set at the start: process-wide, so the official side has it too).

yolov5n uses the official yolov5n.pt from the shared data (both sides load it; missing: an error);
other models use random weights, shared by both sides (the official side gets a temporary
checkpoint written from our weights), so both run the same detections through NMS.

Usage::

    python benchmarks/predict.py                       # ours only, says how to add official
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
        python benchmarks/predict.py [--models yolov5n yolov5s] [--runs 30] [--images all]

YOLOV5_OFFICIAL is a scratch checkout of ultralytics/yolov5 at tag v7.0 (outside this repo),
patched to run offline as in shared/REFERENCE-RUNS.md; YOLOV5_OFFICIAL_DEPS is the folder with
its extra dependencies (appended to sys.path, so our own packages take precedence). The shared
assets are found through YOLOARENA_SHARED (default: ../shared next to the repo). See
benchmarks/README.md for the setup commands.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import torch
from common import shared_dir

import yoloarena
from yoloarena.allocator import keep_freed_memory
from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.engine.backends import resolve_backend
from yoloarena.weights import save_weights

CONF, IOU, MAX_DET, IMGSZ = 0.25, 0.45, 1000, 640
SKIP_HINT = (
    "official comparison SKIPPED: set YOLOV5_OFFICIAL to a patched v7.0 checkout of "
    "ultralytics/yolov5 (and YOLOV5_OFFICIAL_DEPS to its extra deps); see benchmarks/README.md"
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["yolov5n", "yolov5s"])
    p.add_argument("--runs", type=int, default=30, help="timed forwards per implementation")
    p.add_argument("--warmup", type=int, default=5, help="untimed forwards per implementation")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--cv2-threads", type=int, default=None, help="default: OpenCV's own")
    p.add_argument("--chunk", type=int, default=10, help="images per alternation chunk")
    p.add_argument("--no-auto", action="store_true", help="skip ours with backend=auto")
    p.add_argument(
        "--e2e-budget",
        type=float,
        default=90.0,
        help="seconds per model after which no further end-to-end chunk starts",
    )
    p.add_argument(
        "--images",
        choices=["all", "coco128", "samples", "none"],
        default="all",
        help="all = shared data/images/*.jpg + coco128 train2017; none = skip end-to-end",
    )
    return p.parse_args(argv)


def image_paths(which: str) -> list[str]:
    data = shared_dir() / "data"
    samples = sorted(data.glob("images/*.jpg"))
    coco = sorted(data.glob("coco128/images/train2017/*.jpg"))
    chosen = {"all": samples + coco, "coco128": coco, "samples": samples, "none": []}[which]
    if which != "none" and not chosen:
        raise SystemExit(f"no images found under {data} (set YOLOARENA_SHARED)")
    return [str(p) for p in chosen]


def import_official() -> tuple[SimpleNamespace | None, str]:
    """The official modules (same process), or None and the reason."""
    root = os.environ.get("YOLOV5_OFFICIAL")
    if not root:
        return None, "YOLOV5_OFFICIAL is not set"
    if not (Path(root) / "models" / "yolo.py").is_file():
        return None, f"YOLOV5_OFFICIAL={root} is not a yolov5 checkout"
    cv2_threads = cv2.getNumThreads()  # utils.general sets cv2.setNumThreads(0) on import
    sys.path.insert(0, str(Path(root).resolve()))
    if os.environ.get("YOLOV5_OFFICIAL_DEPS"):
        sys.path.append(str(Path(os.environ["YOLOV5_OFFICIAL_DEPS"]).resolve()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from models.common import DetectMultiBackend
            from models.yolo import DetectionModel
            from utils.dataloaders import LoadImages
            from utils.general import non_max_suppression, scale_boxes
    except Exception as e:  # an unpatched or incomplete checkout: report, then go on
        return None, f"importing the official code from {root} failed: {e!r}"
    finally:
        cv2.setNumThreads(cv2_threads)
    logging.getLogger("yolov5").setLevel(logging.WARNING)
    return SimpleNamespace(
        root=Path(root),
        DetectionModel=DetectionModel,
        DetectMultiBackend=DetectMultiBackend,
        LoadImages=LoadImages,
        nms=non_max_suppression,
        scale_boxes=scale_boxes,
    ), ""


OFFICIAL_WEIGHTS = ("yolov5n",)  # the official files in the shared data


def weights_for(name: str) -> Path | None:
    """The official weights of name; None for models benchmarked with random weights. A model
    whose official file belongs to the shared data never falls back to random weights."""
    path = shared_dir() / "data" / "weights" / f"{name}.pt"
    if name in OFFICIAL_WEIGHTS and not path.is_file():
        raise SystemExit(f"{path} not found (set YOLOARENA_SHARED to the shared folder)")
    return path if path.is_file() else None


def build_pair(name: str, off: SimpleNamespace | None, tmp: Path, auto: bool) -> SimpleNamespace:
    """Ours (deployed; with auto, also the network backend=auto runs, its export cache built
    here) and, when available, the official model and backend with equal weights."""
    weights = weights_for(name)
    ours = yoloarena.load(weights or name)
    if weights is None:  # random weights from a file, so that backend=auto exports them too
        ours = yoloarena.load(save_weights(ours.model, tmp / f"{name}_random_ours.pt"))
    state = {k: v.clone() for k, v in ours.state_dict().items()}
    ours.deploy()
    pair = SimpleNamespace(name=name, weights=weights, ours=ours, official=None, backend=None)
    pair.auto = resolve_backend(ours.model, "auto", IMGSZ) if auto else None
    if off is None:
        return pair
    model = off.DetectionModel(str(off.root / "models" / f"{name}.yaml"))
    model.load_state_dict(state)
    if weights is None:  # a checkpoint in the official format for DetectMultiBackend
        weights = tmp / f"{name}_random.pt"
        torch.save({"model": model}, weights)
    pair.official = model.fuse().eval()
    with warnings.catch_warnings():  # torch's "non-leaf .grad" warning from the official .to()
        warnings.simplefilter("ignore", UserWarning)
        pair.backend = off.DetectMultiBackend(str(weights), device=torch.device("cpu"), fuse=True)
    return pair


def check_same_output(pair: SimpleNamespace, x: torch.Tensor) -> float:
    """Largest |official - ours| over boxes, objectness and class scores for input x."""
    with torch.inference_mode():
        ref = pair.official(x)[0][0]
        out = pair.ours(x)
    xy, wh = ref[:, :2], ref[:, 2:4]
    boxes = torch.cat((xy - wh / 2, xy + wh / 2), 1)
    diffs = [
        (boxes - out.boxes[0]).abs().max(),
        (ref[:, 4] - out.objectness[0]).abs().max(),
        (ref[:, 5:] - out.scores[0]).abs().max(),
    ]
    return float(max(diffs))


def time_alternating(fns: dict[str, Callable[[], Any]], runs: int, warmup: int) -> dict:
    """ms per call of each fn, called in turn (A B B A A B ...) after warmup calls of each."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(warmup + runs):
        for key, fn in in_turn(fns, i):
            t0 = time.perf_counter()
            fn()
            dt = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                times[key].append(dt)
    return times


def in_turn(fns: dict[str, Any], i: int) -> list[tuple[str, Any]]:
    """The items of fns, reversed on odd rounds (A B B A A B ...).

    Whichever side ran second on the same chunk was measured 3-10% faster end to end here, so
    each side goes first half of the time.
    """
    items = list(fns.items())
    return items[::-1] if i % 2 else items


def bench_forward(pair: SimpleNamespace, runs: int, warmup: int) -> dict[str, list[float]]:
    x = torch.rand(1, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    fns: dict[str, Callable[[], Any]] = {"ours": lambda: pair.ours(x)}
    if pair.auto is not None:
        fns["ours auto"] = lambda: pair.auto(x)
    if pair.official is not None:
        fns["official"] = lambda: pair.official(x)
    with torch.inference_mode():
        return time_alternating(fns, runs, warmup)


def run_ours(model: Any, paths: list[str], backend: str | None = None) -> dict[str, float]:
    """One predict call over paths; total seconds, detections and the Results.speed sums (ms).
    Decoding and letterboxing overlap the forward (a prefetch thread), so "other" (the total
    minus the stages) can be negative."""
    t0 = time.perf_counter()
    results = model.predict(paths, conf=CONF, iou=IOU, max_det=MAX_DET, backend=backend)
    total = time.perf_counter() - t0
    out = {"seconds": total, "n": len(results), "dets": sum(len(r) for r in results)}
    for key in ("preprocess", "inference", "postprocess"):
        out[key] = sum(r.speed[key] for r in results)
    out["other"] = total * 1e3 - sum(out[k] for k in ("preprocess", "inference", "postprocess"))
    return out


def run_official(off: SimpleNamespace, backend: Any, paths: list[str]) -> dict[str, float]:
    """detect.py's loop over paths without saving or drawing; seconds, detections, ms per step."""
    ms = dict.fromkeys(("imread+letterbox", "to tensor", "forward", "nms", "scale_boxes"), 0.0)
    n = dets = 0
    t0 = time.perf_counter()
    dataset = off.LoadImages(paths, img_size=IMGSZ, stride=backend.stride, auto=backend.pt)
    clock = time.perf_counter()
    with torch.inference_mode():
        for _path, im, im0s, _cap, _s in dataset:
            clock = _lap(ms, "imread+letterbox", clock)
            im = torch.from_numpy(im).to(backend.device).float()
            im /= 255
            im = im[None] if im.ndim == 3 else im
            clock = _lap(ms, "to tensor", clock)
            pred = backend(im)
            clock = _lap(ms, "forward", clock)
            pred = off.nms(pred, CONF, IOU, None, False, max_det=MAX_DET)
            clock = _lap(ms, "nms", clock)
            for det in pred:
                n, dets = n + 1, dets + len(det)
                if len(det):
                    det[:, :4] = off.scale_boxes(im.shape[2:], det[:, :4], im0s.shape).round()
            clock = _lap(ms, "scale_boxes", clock)
    return {"seconds": time.perf_counter() - t0, "n": n, "dets": dets, **ms}


def _lap(ms: dict[str, float], key: str, since: float) -> float:
    now = time.perf_counter()
    ms[key] += (now - since) * 1e3
    return now


def bench_e2e(
    pair: SimpleNamespace, off: SimpleNamespace | None, paths: list[str], chunk: int, budget: float
) -> dict[str, list[dict]]:
    """Per chunk of paths, ours and official in turn (A B B A ...); a 2-image warm-up first.

    No new chunk starts once budget seconds have passed (a guard for a heavily loaded machine).
    """
    fns: dict[str, Callable[[list[str]], dict]] = {"ours": lambda p: run_ours(pair.ours, p)}
    if pair.auto is not None:
        fns["ours auto"] = lambda p: run_ours(pair.ours, p, "auto")
    if off is not None:
        fns["official"] = lambda p: run_official(off, pair.backend, p)
    for fn in fns.values():
        fn(paths[:2])
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    runs: dict[str, list[dict]] = {k: [] for k in fns}
    start = time.perf_counter()
    for i, part in enumerate(chunks):
        if time.perf_counter() - start > budget:
            break
        for key, fn in in_turn(fns, i):
            runs[key].append(fn(part))
    return runs


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def fmt_ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:6.2f}x" if a and b else "     -"


def print_header(args: argparse.Namespace, paths: list[str], off_note: str, alloc: str) -> None:
    print("yoloarena prediction benchmark (CPU, fp32, batch 1)")
    print(
        f"  torch {torch.__version__}, threads {torch.get_num_threads()}, cv2 {cv2.__version__} "
        f"threads {cv2.getNumThreads()}, numpy {np.__version__}, python {platform.python_version()}"
    )
    print(f"  CPU: {cpu_name()} ({os.cpu_count()} logical cores), {alloc}")
    print(
        f"  forward: {IMGSZ}x{IMGSZ}, Conv+BN fused, {args.warmup} warm-up + {args.runs} timed "
        "runs each, alternating (A B B A)"
    )
    if paths:
        print(
            f"  end-to-end: {len(paths)} images ({describe_images(args.images)}), "
            f"conf={CONF} iou={IOU} max_det={MAX_DET}, chunks of {args.chunk}, A B B A"
        )
    print(f"  official: {off_note}")
    print(f"  ours: yoloarena thread policy {os.environ.get('YOLOARENA_THREADS', 'auto')}")
    print(f"  {load_note()} (at the start)\n", flush=True)


def describe_images(which: str) -> str:
    return {
        "all": "shared data/images/*.jpg + coco128/images/train2017",
        "coco128": "coco128/images/train2017",
        "samples": "shared data/images/*.jpg",
    }[which]


def summarize(name: str, fwd: dict, e2e: dict | None, auto: str | None) -> list[str]:
    """Table rows for one model: forward median/p90 and end-to-end img/s (median over chunks),
    ours with the module as loaded and, when run, with backend=auto (auto: what it chose)."""
    rows = []
    off = fwd.get("official")
    sides = [("ours", "")] + ([("ours auto", f" [auto: {auto}]")] if auto else [])
    for key, tag in sides:
        for label, q in (("forward ms median", 50), ("forward ms p90", 90)):
            a, b = pct(fwd[key], q), (pct(off, q) if off else None)
            rows.append(_row(name, label + tag, a, b, fmt_ratio(b, a)))
    if e2e:
        rates = {k: statistics.median(r["n"] / r["seconds"] for r in v) for k, v in e2e.items()}
        totals = {k: sum(r["n"] for r in v) / sum(r["seconds"] for r in v) for k, v in e2e.items()}
        for key, tag in sides:
            for label, vals in (("e2e img/s median", rates), ("e2e img/s total", totals)):
                a, b = vals[key], vals.get("official")
                rows.append(_row(name, label + tag, a, b, fmt_ratio(a, b)))
    return rows


def _row(name: str, label: str, ours: float, official: float | None, ratio: str) -> str:
    off = f"{official:10.1f}" if official else "   skipped"
    return f"{name:<9} {label:<38} {ours:10.1f} {off} {ratio:>8}"


def breakdown(name: str, e2e: dict) -> list[str]:
    """ms per image of each step, summed over all chunks (ours from Results.speed)."""
    lines = []
    for impl, runs in e2e.items():
        n = sum(r["n"] for r in runs)
        dets = sum(r["dets"] for r in runs)
        keys = [k for k in runs[0] if k not in ("seconds", "n", "dets")]
        parts = ", ".join(f"{k} {sum(r[k] for r in runs) / n:.1f}" for k in keys)
        total = sum(r["seconds"] for r in runs) * 1e3 / n
        lines.append(f"  {name} {impl:<8} {total:6.1f} ms/img = {parts}  ({n} images, {dets} dets)")
    return lines


def describe_pair(pair: SimpleNamespace) -> str:
    shared = " (same on both sides)" if pair.official is not None else ""
    weights = str(pair.weights) if pair.weights else f"random{shared}"
    line = f"  {pair.name}: weights {weights}"
    if pair.official is not None:
        x = torch.rand(1, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1))
        line += f"; max |official - ours| of the forward outputs: {check_same_output(pair, x):.1e}"
    return line


def bench_model(name: str, args: argparse.Namespace, off: Any, paths: list[str], tmp: Path):
    """(table rows, detail lines) of one model."""
    progress = f"[{name}] forward x{args.warmup + args.runs} per implementation"
    print(progress + (f", then {len(paths)} images end-to-end" if paths else ""), file=sys.stderr)
    pair = build_pair(name, off, tmp, not args.no_auto)
    details = [describe_pair(pair)]
    auto = None
    if pair.auto is not None:
        auto = getattr(pair.auto, "backend", "torch")
        details.append(f"  {name}: backend=auto runs {auto}; {auto_note(pair.auto)}")
    fwd = bench_forward(pair, args.runs, args.warmup)
    e2e = bench_e2e(pair, off, paths, args.chunk, args.e2e_budget) if paths else None
    if e2e:
        details += breakdown(name, e2e)
    return summarize(name, fwd, e2e, auto), details


def auto_note(net: Any) -> str:
    """The timings the export cache measured when it chose (entry.json)."""
    folder = getattr(net, "cache_entry", None)
    if folder is None:
        return "PyTorch chosen (or no export: see the log)"
    info = json.loads((Path(folder) / "entry.json").read_text())
    ms = ", ".join(f"{k} {v:.1f}" for k, v in info["timings_ms"].items())
    return f"cache timings ms at {'x'.join(map(str, info['measured_on']['shape'][2:]))}: {ms}"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    # yoloarena's predict and val keep freed memory in glibc's heap (mallopt, process-wide):
    # set before any timing, so that both sides run with it from the first call
    alloc = "mallopt keep-freed-memory ON" if keep_freed_memory() else "allocator unchanged"
    logging.getLogger("yoloarena").setLevel(logging.ERROR)  # the random-weights warning
    off, why = import_official()
    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    paths = image_paths(args.images)
    off_note = f"ultralytics/yolov5 from {off.root}" if off else f"SKIPPED ({why})"
    print_header(args, paths, off_note, alloc)
    rows, details = [], []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["YOLOARENA_CACHE_DIR"] = str(Path(tmp) / "cache")  # backend=auto's exports
        for name in args.models:
            r, d = bench_model(name, args, off, paths, Path(tmp))
            rows, details = rows + r, details + d
    print(f"{'model':<9} {'metric':<38} {'ours':>10} {'official':>10} {'ratio':>8}")
    print("\n".join(rows))
    print("ratio: official/ours for ms, ours/official for img/s (> 1: ours is faster)\n")
    print("details (end-to-end ms per image, summed over the chunks):")
    print("\n".join(details))
    print(f"\n{load_note()} (at the end)")
    if off is None:
        print(f"\n{SKIP_HINT}\n  reason: {why}")


if __name__ == "__main__":
    main()
