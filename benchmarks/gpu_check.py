"""The GPU path in one prepared script for a CUDA machine (issue 17).

Steps, each reported PASS/FAIL with its figures, then a summary table; the exit code is 1 when any
step failed (every step runs even after a failure, so one run shows everything):

1. environment: CUDA device, torch, tensorrt and onnxruntime versions;
2. per model (yolov5n, yolov5s, damoyolo-t, damoyolo-s) at 640: TensorRT FP16 export (built
   from the ONNX file; the export itself checks parity at the half bound, rtol 2e-2 plus
   1e-2 x max|ref|), max |diff| of the engine's outputs against PyTorch FP32 on a real image, and
   median latency at batch 1 of PyTorch FP32, PyTorch FP16 (autocast) and the TensorRT engine;
3. one AMP training epoch of yolov5n on coco128 (official weights, batch 16, 640);
4. `val` of the official yolov5n on coco128 with half=True next to FP32 (AP and the difference).

yolov5n uses shared/data/weights/yolov5n.pt; the other models use random weights (parity and
latency do not depend on them; their AP is not measured).

Usage::

    python benchmarks/gpu_check.py                 # on a CUDA machine, device 0
    python benchmarks/gpu_check.py --cpu-smoke     # dry run here: same steps, tiny, on CPU,
                                                   # ONNX in place of TensorRT, no AMP/FP16
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from common import shared_dir, stage_coco128

import yoloarena
from yoloarena.data.images import read_image
from yoloarena.export import export_model
from yoloarena.export.check import parity_input
from yoloarena.export.graph import ExportGraph
from yoloarena.registry import build_model

MODELS = ("yolov5n", "yolov5s", "damoyolo-t", "damoyolo-s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--device", default="0")
    p.add_argument(
        "--cpu-smoke", action="store_true", help="every step on CPU, tiny, ONNX for TensorRT"
    )
    args = p.parse_args(argv)
    if args.cpu_smoke:
        args.imgsz, args.runs, args.device = 64, 2, "cpu"
    return args


class Steps:
    """Runs steps, catching failures loudly (the traceback is printed), and keeps the table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def run(self, name: str, fn: Callable[[], str]) -> bool:
        print(f"\n=== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            detail = fn()
            status = "PASS"
        except Exception as e:  # every step runs; the failure is shown, then summarised
            traceback.print_exc()
            detail, status = f"{type(e).__name__}: {e}"[:160], "FAIL"
        print(f"--- {status} {name} ({time.perf_counter() - t0:.1f} s): {detail}", flush=True)
        self.rows.append((name, status, detail))
        return status == "PASS"

    def summary(self) -> int:
        print("\n| step | result | figures |\n|---|---|---|")
        for name, status, detail in self.rows:
            print(f"| {name} | {status} | {detail} |")
        failed = sum(s == "FAIL" for _, s, _ in self.rows)
        print(f"\n{len(self.rows) - failed} passed, {failed} failed")
        return 1 if failed else 0


def environment(args) -> str:
    parts = [f"torch {torch.__version__}"]
    if args.cpu_smoke:
        return "cpu smoke run; " + ", ".join(parts)
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device: run with --cpu-smoke for the dry run")
    parts.append(torch.cuda.get_device_name(0))
    import onnxruntime
    import tensorrt

    parts += [f"tensorrt {tensorrt.__version__}", f"onnxruntime {onnxruntime.__version__}"]
    return ", ".join(parts)


def model_of(name: str):
    if name == "yolov5n":
        return yoloarena.load(shared_dir() / "data" / "weights" / "yolov5n.pt")
    return build_model(name).eval()


def median_ms(fn: Callable[[], object], runs: int, cuda: bool) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def export_step(name: str, args, tmp: Path) -> str:
    """TensorRT FP16 (ONNX FP32 on the CPU smoke run), parity and latency."""
    cuda = not args.cpu_smoke
    device = torch.device("cuda:0" if cuda else "cpu")
    model = model_of(name).to(device)
    fmt, half = ("onnx", False) if args.cpu_smoke else ("engine", True)
    image = shared_dir() / "data" / "images" / "bus.jpg"
    result = export_model(model, fmt, imgsz=args.imgsz, half=half, image=image,
                           device=device, file=tmp / name)  # fmt: skip
    runtime = yoloarena.load(result.path, device=str(device))
    x = parity_input(model, read_image(shared_dir() / "data" / "images" / "zidane.jpg"),
                     (args.imgsz, args.imgsz), 1).to(device)  # fmt: skip
    graph = ExportGraph(copy.deepcopy(model).deploy()).eval()
    with torch.inference_mode():
        ref = graph(x)
        got = runtime.session(x)
    diffs = [float((g.to(device) - r).abs().max()) for r, g in zip(ref, got, strict=True)]
    with torch.inference_mode():
        t32 = median_ms(lambda: graph(x), args.runs, cuda)
        with torch.autocast(device.type, enabled=cuda):
            t16 = median_ms(lambda: graph(x), args.runs, cuda)
        trt = median_ms(lambda: runtime.session(x), args.runs, cuda)
    label = "TensorRT FP16" if cuda else "ONNX Runtime (smoke)"
    return (f"export parity {result.parity.summary()}; max|d| on zidane {max(diffs):.3g}; "
            f"ms torch fp32 {t32:.2f}, torch fp16 {t16:.2f}, {label} {trt:.2f}")  # fmt: skip


def train_step(args, tmp: Path) -> str:
    from yoloarena.engine.train_job import TrainConfig, run_train

    data = stage_coco128(tmp)
    cfg = TrainConfig(model=str(shared_dir() / "data" / "weights" / "yolov5n.pt"), data=str(data),
                      epochs=1, imgsz=args.imgsz, batch=4 if args.cpu_smoke else 16,
                      device=args.device, amp=not args.cpu_smoke, workers=2, plots=False,
                      project=str(tmp / "train"), name="amp", val=not args.cpu_smoke,
                      fraction=0.1 if args.cpu_smoke else 1.0)  # fmt: skip
    t0 = time.perf_counter()
    run = run_train(cfg)
    rows = (run / "results.csv").read_text().splitlines()
    return f"1 epoch in {time.perf_counter() - t0:.0f} s; last row: {rows[-1][:120]}"


def val_step(args, tmp: Path) -> str:
    from yoloarena.engine.val_job import ValConfig, run_val

    data = stage_coco128(tmp / "val")
    weights = str(shared_dir() / "data" / "weights" / "yolov5n.pt")
    out = {}
    for half in (False, True) if not args.cpu_smoke else (False,):
        cfg = ValConfig(model=weights, data=str(data), imgsz=args.imgsz, half=half,
                        device=args.device, plots=False, project=str(tmp / "val_runs"),
                        name=f"half{half}", verbose=False)  # fmt: skip
        out[half] = run_val(cfg)[1].metrics.stats["AP"]
    text = ", ".join(f"AP {'fp16' if h else 'fp32'} {v:.4f}" for h, v in out.items())
    if True in out:
        diff = out[True] - out[False]
        if abs(diff) > 0.005:
            raise RuntimeError(f"half=True moved AP by {diff:+.4f} ({text})")
        text += f"; half - fp32 {diff:+.4f}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    steps = Steps()
    ok = steps.run("environment", lambda: environment(args))
    with tempfile.TemporaryDirectory(prefix="yoloarena-gpu-check-") as folder:
        tmp = Path(folder)
        if ok:
            for name in args.models:
                steps.run(f"{name} export/parity/latency @{args.imgsz}",
                          lambda n=name: export_step(n, args, tmp))  # fmt: skip
            steps.run("yolov5n one AMP epoch on coco128", lambda: train_step(args, tmp))
            steps.run("yolov5n val half=True on coco128", lambda: val_step(args, tmp))
    return steps.summary()


if __name__ == "__main__":
    sys.exit(main())
