"""Segmentation speed of yoloarena next to the official YOLOv5 v7.0, measured in one run on CPU.

Two measurements per model (default yolov5n-seg and yolov5s-seg), ours and official alternated
(A B B A ...) so that drift on a noisy machine hits both:

1. model-only forward latency: batch 1, 640x640, Conv+BN fused, fp32, median and p90 ms.
   ours = the deployed yoloarena model; official = ``SegmentationModel(<name>.yaml).fuse()`` with
   the same weights (the detection tensor and the prototypes are checked to match).
2. end-to-end images/s with the masks made: ours = ``model.predict(paths, conf, iou, max_det)``
   then ``r.masks.data`` of every result (boolean masks at the original image size, decoded on
   that first access, so it is timed); official = the segment/predict.py loop (LoadImages,
   DetectMultiBackend fused, non_max_suppression with nm=32, process_mask(upsample=True),
   scale_boxes; no saving or drawing) plus ``scale_image`` of the masks to the original image,
   which its annotator does when it draws them: the same output as ours. The official loop
   without scale_image (masks left at the letterboxed input size, less than ours delivers) is
   timed too and shown in its own column.

Weights: no official -seg checkpoint is in the shared data, so both sides share one set. For
yolov5n-seg the backbone, neck and the box/objectness/class outputs of the head come from the
official yolov5n.pt (so the detections on real images are real, as many as yolov5n finds), the
mask coefficients and Proto are random (seeded): the masks are noise inside real boxes, which
costs the same to post-process. yolov5s-seg is random everywhere (its end-to-end detections are
meaningless but identical on both sides; use --conf to get some).

Usage::

    python benchmarks/seg.py                       # ours only, says how to add official
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
        YOLOV5_CONFIG_DIR=/tmp/yolov5_config python benchmarks/seg.py [--models ...] [--runs 30]

The official checkout is set up as for benchmarks/predict.py (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import logging
import os
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
from predict import fmt_ratio, image_paths, in_turn, malloc_no_trim, pct, time_alternating

import yoloarena
from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.ops import xyxy_to_cxcywh

IMGSZ = 640
SKIP_HINT = (
    "official comparison SKIPPED: set YOLOV5_OFFICIAL to a patched v7.0 checkout of "
    "ultralytics/yolov5 (and YOLOV5_OFFICIAL_DEPS to its extra deps); see benchmarks/README.md"
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["yolov5n-seg", "yolov5s-seg"])
    p.add_argument(
        "--e2e-models",
        nargs="*",
        default=["yolov5n-seg"],
        help="models also timed end to end (default: the one with real boxes)",
    )
    p.add_argument("--runs", type=int, default=30, help="timed forwards per implementation")
    p.add_argument("--warmup", type=int, default=5, help="untimed forwards per implementation")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--malloc-no-trim", action="store_true", help="see benchmarks/predict.py")
    p.add_argument("--chunk", type=int, default=10, help="images per alternation chunk")
    p.add_argument(
        "--e2e-budget",
        type=float,
        default=120.0,
        help="seconds per model after which no further end-to-end chunk starts",
    )
    p.add_argument("--images", choices=["all", "coco128", "samples", "none"], default="all")
    p.add_argument("--imgsz", type=int, default=IMGSZ)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.45)
    p.add_argument("--max-det", type=int, default=1000)
    return p.parse_args(argv)  # fmt: skip


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
            from models.yolo import SegmentationModel
            from utils.dataloaders import LoadImages
            from utils.general import non_max_suppression, scale_boxes
            from utils.segment.general import process_mask, scale_image
    except Exception as e:  # an unpatched or incomplete checkout: report, then go on
        return None, f"importing the official code from {root} failed: {e!r}"
    finally:
        cv2.setNumThreads(cv2_threads)
    logging.getLogger("yolov5").setLevel(logging.WARNING)
    return SimpleNamespace(
        root=Path(root), SegmentationModel=SegmentationModel,
        DetectMultiBackend=DetectMultiBackend, LoadImages=LoadImages, nms=non_max_suppression,
        scale_boxes=scale_boxes, process_mask=process_mask, scale_image=scale_image,
    ), ""  # fmt: skip


def shared_weights(name: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict both sides use, and where it came from (see the module docstring)."""
    torch.manual_seed(0)
    model = yoloarena.load(name)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if name != "yolov5n-seg":
        return state, "random (seeded), the same on both sides"
    det_path = shared_dir() / "data" / "weights" / "yolov5n.pt"
    if not det_path.is_file():
        raise SystemExit(f"{det_path} not found (set YOLOARENA_SHARED to the shared folder)")
    det = yoloarena.load(det_path).state_dict()
    nc, nm = 80, 32
    for key, value in det.items():
        if key not in state:
            continue
        if state[key].shape == value.shape:
            state[key] = value.clone()
        elif key.startswith("model.24.m."):  # [3 x 85] outputs -> the first 85 of [3 x 117]
            new = state[key].clone().view(3, 5 + nc + nm, *state[key].shape[1:])
            new[:, : 5 + nc] = value.view(3, 5 + nc, *value.shape[1:])
            state[key] = new.view_as(state[key])
    return state, f"{det_path.name} (boxes, objectness, classes) + seeded random masks"


def build_pair(name: str, off: SimpleNamespace | None, tmp: Path) -> SimpleNamespace:
    state, source = shared_weights(name)
    ours = yoloarena.load(name)
    ours.model.load_state_dict(state)
    ours.deploy()
    pair = SimpleNamespace(name=name, source=source, ours=ours, official=None, backend=None)
    if off is None:
        return pair
    model = off.SegmentationModel(str(off.root / "models" / "segment" / f"{name}.yaml"))
    model.load_state_dict(state)
    weights = tmp / f"{name}.pt"
    torch.save({"model": model}, weights)
    pair.official = model.fuse().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pair.backend = off.DetectMultiBackend(str(weights), device=torch.device("cpu"), fuse=True)
    return pair


def check_same_output(pair: SimpleNamespace, size: int) -> float:
    """Largest |official - ours| over the decoded rows and the prototypes."""
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        pred, proto = pair.official(x)[:2]
        out = pair.ours(x)
    ours = torch.cat([xyxy_to_cxcywh(out.boxes), out.objectness[..., None], out.scores,
                      out.mask_coefficients], -1)  # fmt: skip
    return float(max((pred - ours).abs().max(), (proto - out.prototypes).abs().max()))


def bench_forward(pair: SimpleNamespace, size: int, runs: int, warmup: int) -> dict:
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    fns: dict[str, Callable[[], Any]] = {"ours": lambda: pair.ours(x)}
    if pair.official is not None:
        fns["official"] = lambda: pair.official(x)
    with torch.inference_mode():
        return time_alternating(fns, runs, warmup)


def run_ours(model: Any, paths: list[str], a: argparse.Namespace) -> dict[str, float]:
    """predict over paths, then every result's masks at the original size (decoded here)."""
    t0 = time.perf_counter()
    results = model.predict(paths, imgsz=a.imgsz, conf=a.conf, iou=a.iou, max_det=a.max_det)
    t1 = time.perf_counter()
    pixels = sum(np.count_nonzero(r.masks.data.numpy()) for r in results)
    t2 = time.perf_counter()
    out = {"seconds": t2 - t0, "n": len(results), "dets": sum(len(r) for r in results),
           "pixels": pixels}  # fmt: skip
    for key in ("preprocess", "inference", "postprocess"):
        out[key] = sum(r.speed[key] for r in results)
    out["masks to image size"] = (t2 - t1) * 1e3
    out["decode+other"] = (t1 - t0) * 1e3 - sum(
        out[k] for k in ("preprocess", "inference", "postprocess")
    )
    return out


def run_official(off, backend, paths: list[str], a, to_image: bool = True) -> dict[str, float]:
    """segment/predict.py's loop without saving or drawing (+ masks to the image size)."""
    keys = ("imread+letterbox", "to tensor", "forward", "nms", "process_mask", "scale_boxes",
            "scale_image")  # fmt: skip
    ms = dict.fromkeys(keys if to_image else keys[:-1], 0.0)
    n = dets = pixels = 0
    t0 = time.perf_counter()
    dataset = off.LoadImages(paths, img_size=a.imgsz, stride=backend.stride, auto=backend.pt)
    clock = time.perf_counter()
    with torch.inference_mode():
        for _path, im, im0s, _cap, _s in dataset:
            clock = _lap(ms, "imread+letterbox", clock)
            im = torch.from_numpy(im).to(backend.device).float()
            im /= 255
            im = im[None] if im.ndim == 3 else im
            clock = _lap(ms, "to tensor", clock)
            pred, proto = backend(im)[:2]
            clock = _lap(ms, "forward", clock)
            pred = off.nms(pred, a.conf, a.iou, None, False, max_det=a.max_det, nm=32)
            clock = _lap(ms, "nms", clock)
            for i, det in enumerate(pred):
                n, dets = n + 1, dets + len(det)
                if not len(det):
                    continue
                masks = off.process_mask(proto[i], det[:, 6:], det[:, :4], im.shape[2:], True)
                clock = _lap(ms, "process_mask", clock)
                det[:, :4] = off.scale_boxes(im.shape[2:], det[:, :4], im0s.shape).round()
                clock = _lap(ms, "scale_boxes", clock)
                if to_image:
                    hwn = masks.permute(1, 2, 0).contiguous().byte().numpy()
                    full = off.scale_image(im.shape[2:], hwn, im0s.shape)
                    pixels += np.count_nonzero(full)
                    clock = _lap(ms, "scale_image", clock)
    return {"seconds": time.perf_counter() - t0, "n": n, "dets": dets, "pixels": pixels, **ms}


def _lap(ms: dict[str, float], key: str, since: float) -> float:
    now = time.perf_counter()
    ms[key] += (now - since) * 1e3
    return now


def bench_e2e(pair, off, paths: list[str], a: argparse.Namespace) -> dict[str, list[dict]]:
    fns: dict[str, Callable[[list[str]], dict]] = {"ours": lambda p: run_ours(pair.ours, p, a)}
    if off is not None:
        fns["official"] = lambda p: run_official(off, pair.backend, p, a)
        fns["official, input-size masks"] = lambda p: run_official(off, pair.backend, p, a, False)
    for fn in fns.values():
        fn(paths[:2])
    chunks = [paths[i : i + a.chunk] for i in range(0, len(paths), a.chunk)]
    runs: dict[str, list[dict]] = {k: [] for k in fns}
    start = time.perf_counter()
    for i, part in enumerate(chunks):
        if time.perf_counter() - start > a.e2e_budget:
            break
        for key, fn in in_turn(fns, i):
            runs[key].append(fn(part))
    return runs


def summarize(name: str, fwd: dict, e2e: dict | None) -> list[str]:
    rows = []
    off = fwd.get("official")
    for label, q in (("forward ms median", 50), ("forward ms p90", 90)):
        a, b = pct(fwd["ours"], q), (pct(off, q) if off else None)
        rows.append(_row(name, label, a, b, None, fmt_ratio(b, a)))
    if e2e:
        rates = {k: statistics.median(r["n"] / r["seconds"] for r in v) for k, v in e2e.items()}
        totals = {k: sum(r["n"] for r in v) / sum(r["seconds"] for r in v) for k, v in e2e.items()}
        for label, vals in (("end-to-end img/s median", rates), ("end-to-end img/s total", totals)):
            a, b = vals["ours"], vals.get("official")
            c = vals.get("official, input-size masks")
            rows.append(_row(name, label, a, b, c, fmt_ratio(a, b)))
    return rows


def _row(name, label, ours, official, official_small, ratio: str) -> str:
    off = f"{official:10.1f}" if official else "   skipped"
    small = f"{official_small:12.1f}" if official_small else "           -"
    return f"{name:<12} {label:<25} {ours:10.1f} {off} {ratio:>8} {small}"


def breakdown(name: str, e2e: dict) -> list[str]:
    lines = []
    for impl, runs in e2e.items():
        n = sum(r["n"] for r in runs)
        dets, pixels = sum(r["dets"] for r in runs), sum(r["pixels"] for r in runs)
        keys = [k for k in runs[0] if k not in ("seconds", "n", "dets", "pixels")]
        parts = ", ".join(f"{k} {sum(r[k] for r in runs) / n:.1f}" for k in keys)
        total = sum(r["seconds"] for r in runs) * 1e3 / n
        mask_px = f", {pixels} mask pixels" if pixels else ""
        lines.append(f"  {name} {impl}: {total:.1f} ms/img = {parts}  ({n} images, {dets} dets"
                     f"{mask_px})")  # fmt: skip
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    alloc = malloc_no_trim() if args.malloc_no_trim else "default glibc malloc"
    logging.getLogger("yoloarena").setLevel(logging.ERROR)  # the random-weights warning
    off, why = import_official()
    paths = image_paths(args.images)
    print("yoloarena segmentation benchmark (CPU, fp32, batch 1)")
    print(f"  torch {torch.__version__}, threads {torch.get_num_threads()}, cv2 threads "
          f"{cv2.getNumThreads()}, numpy {np.__version__}; CPU: {cpu_name()} "
          f"({os.cpu_count()} logical cores), {alloc}")  # fmt: skip
    print(f"  forward {args.imgsz}x{args.imgsz}, {args.warmup} warm-up + {args.runs} timed runs "
          f"each, alternating; end to end on {len(paths)} images, conf={args.conf} "
          f"iou={args.iou} max_det={args.max_det}, chunks of {args.chunk}")  # fmt: skip
    print(f"  official: {f'ultralytics/yolov5 from {off.root}' if off else f'SKIPPED ({why})'}")
    print(f"  {load_note()} (at the start)\n", flush=True)
    rows, details = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            print(f"[{name}]", file=sys.stderr, flush=True)
            pair = build_pair(name, off, Path(tmp))
            line = f"  {name}: weights {pair.source}"
            if pair.official is not None:
                line += "; max |official - ours| (rows, prototypes): "
                line += f"{check_same_output(pair, args.imgsz):.1e}"
            details.append(line)
            fwd = bench_forward(pair, args.imgsz, args.runs, args.warmup)
            e2e = None
            if paths and name in args.e2e_models:
                e2e = bench_e2e(pair, off, paths, args)
                details += breakdown(name, e2e)
            rows += summarize(name, fwd, e2e)
    print(f"{'model':<12} {'metric':<25} {'ours':>10} {'official':>10} {'ratio':>8} "
          f"{'official, masks at input size':>12}")  # fmt: skip
    print("\n".join(rows))
    print("ratio: official/ours for ms, ours/official for img/s (> 1: ours is faster); ours and "
          "'official' both end with boolean masks at the original image size\n")  # fmt: skip
    print("details (end-to-end ms per image, summed over the chunks):")
    print("\n".join(details))
    print(f"\n{load_note()} (at the end)")
    if off is None:
        print(f"\n{SKIP_HINT}\n  reason: {why}")


if __name__ == "__main__":
    main()
