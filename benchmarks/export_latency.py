"""Latency of exported models per backend on this CPU, next to the official YOLOv5 ONNX export.

For each model (default yolov5n, yolov5s, damoyolo-t, damoyolo-s), batch 1 at 640x640, fp32:

- PyTorch: our deployed model (Conv+BN fused, RepConv folded, channels-last);
- ONNX Runtime: our ONNX export (simplified, opset 17), CPU provider, 2 intra-op threads;
- OpenVINO: our FP32 IR with inference precision pinned to f32 (on CPUs with AMX/AVX512-BF16
  the plugin would otherwise compute in bf16), and the same IR at the plugin's default precision
  ("openvino-auto", bf16 here when the CPU has it: a different accuracy, shown separately);
- official ONNX (YOLOv5 only): the v7.0 export.py of the same weights (its defaults: opset 12,
  no simplification), run in the same ONNX Runtime session settings;
- lower precision: openvino-bf16 (the FP32 IR computed in bf16, where the CPU has it),
  onnx-int8 (ONNX Runtime static QDQ) and openvino-int8 (NNCF), both calibrated on the coco128
  train images with the decode ops kept float, tflite (LiteRT, fp32, XNNPACK) and tflite-int8
  (ai-edge-quantizer static int8); --no-lowp leaves them out.

With official weights (yolov5n) the AP of every backend is measured on coco128 val by running
its own file through val at the benchmark size (FP32 ones must match PyTorch; INT8 and bf16 show
what they cost); models with random weights get latency only. The summary line gives the best
backend's speed-up over FP32 ONNX Runtime per model.

Backends are timed in turns (blocks of 3 calls after one untimed call, the order rotating),
after a warm-up, so that drift on the noisy machine hits all alike; medians and p90 over --runs.
Achieved GFLOPS is the model's forward FLOPs (2 x MACs, torch.utils.flop_counter on the
deployed model) divided by the median latency; the peak is a measured fp32 matmul (torch.mm,
2048^2, same threads).
Outputs of every backend are checked against PyTorch before timing.

Usage::

    python benchmarks/export_latency.py [--models yolov5n damoyolo-t] [--runs 30] [--no-lowp]
    YOLOV5_OFFICIAL=/tmp/yolov5_v7 YOLOV5_OFFICIAL_DEPS=/tmp/yolov5_deps \\
        YOLOV5_CONFIG_DIR=/tmp/yolov5_config python benchmarks/export_latency.py

yolov5n uses shared/data/weights/yolov5n.pt; the other models use random weights (the same
on both sides for yolov5s). See benchmarks/README.md for the official scratch checkout.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from common import shared_dir, stage_coco128

import yoloarena
import yoloarena.export
from yoloarena import ArenaModel
from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.bench.stats import count_flops
from yoloarena.export.graph import ExportGraph
from yoloarena.registry import build_model

THREADS = 2
OFFICIAL_EXPORT = """\
import functools, runpy, sys, torch
sys.path.append(sys.argv[1])
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)  # torch 2.14 default
sys.argv = ["export.py", *sys.argv[2:]]
runpy.run_path("export.py", run_name="__main__")
"""
OFFICIAL_CKPT = """\
import sys, torch
sys.path.append(sys.argv[1])
from models.yolo import Model
model = Model(sys.argv[2])
model.load_state_dict(torch.load(sys.argv[3]))
torch.save({"model": model, "epoch": -1}, sys.argv[4])
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--models", nargs="+", default=["yolov5n", "yolov5s", "damoyolo-t", "damoyolo-s"]
    )
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--no-lowp", action="store_true", help="fp32 backends only (no int8/bf16)")
    p.add_argument("--calib-images", type=int, default=128, help="INT8 calibration images")
    return p.parse_args(argv)


def matmul_peak(n: int = 2048, runs: int = 10) -> float:
    """Measured fp32 GFLOPS of torch.mm (n x n) with the benchmark's thread count."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    for _ in range(3):
        torch.mm(a, b)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def official_onnx(name: str, weights: Path | None, model, tmp: Path) -> tuple[Path | None, str]:
    """The official v7.0 export.py ONNX of the same weights, or None and why."""
    root = os.environ.get("YOLOV5_OFFICIAL")
    if not name.startswith("yolov5"):
        return None, "no official YOLOv5 export for DAMO-YOLO"
    if not root or not (Path(root) / "export.py").is_file():
        return None, "YOLOV5_OFFICIAL is not set to a v7.0 checkout"
    deps = os.environ.get("YOLOV5_OFFICIAL_DEPS", "")
    env = dict(os.environ)
    if weights is None:  # the same random weights, saved as an official pickled checkpoint
        sd, weights = tmp / f"{name}_sd.pt", tmp / f"{name}_official.pt"
        torch.save(model.state_dict(), sd)
        cfg = f"models/{name}.yaml"
        cmd = [sys.executable, "-c", OFFICIAL_CKPT, deps, cfg, str(sd), str(weights)]
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    out = tmp / f"{name}_official"
    out.mkdir(exist_ok=True)
    local = out / "w.pt"
    local.write_bytes(Path(weights).read_bytes())
    cmd = [sys.executable, "-c", OFFICIAL_EXPORT, deps, "--weights", str(local), "--include",
           "onnx", "--imgsz", "640", "--device", "cpu"]  # fmt: skip
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    path = out / "w.onnx"
    if done.returncode or not path.is_file():
        return None, f"official export failed: {done.stderr[-500:]}"
    return path, "ultralytics/yolov5 v7.0 export.py --include onnx (opset 12, not simplified)"


def ort_runner(path: Path) -> Callable[[np.ndarray], list]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})


def tflite_runner(path: Path) -> Callable[[np.ndarray], list]:
    """LiteRT's interpreter (THREADS threads) through our session, which quantises the input of
    an int8 file as the file says."""
    from yoloarena.export.tflite import TFLiteSession

    session = TFLiteSession(path, torch.device("cpu"))
    return lambda x: session(torch.from_numpy(x))


def ov_runner(folder: Path, precision: str | None) -> Callable[[np.ndarray], list]:
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": THREADS}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(core.read_model(str(folder / "model.xml")), "CPU", config)
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> list:
        res = request.infer({0: x})
        return [res[o] for o in compiled.outputs]

    return run


def backends(name: str, tmp: Path, args) -> tuple[dict, dict, object, dict]:
    """Runners per backend (each takes an NCHW float array), notes, the model, and the file of
    each backend that has one (for its AP)."""
    weights = shared_dir() / "data" / "weights" / "yolov5n.pt" if name == "yolov5n" else None
    model = yoloarena.load(weights) if weights else ArenaModel(build_model(name).eval())
    size = args.imgsz
    onnx_path = model.export("onnx", imgsz=size, file=tmp / f"{name}.onnx")
    ov_path = model.export("openvino", imgsz=size, file=tmp / f"{name}_openvino")
    files = {"onnxruntime": onnx_path, "openvino": ov_path}
    if not args.no_lowp:
        data = str(args.data)
        q = {"int8": True, "data": data, "calib_images": args.calib_images, "imgsz": size}
        files["onnx-int8"] = model.export("onnx", file=tmp / f"{name}_int8.onnx", **q)
        files["openvino-int8"] = model.export("openvino", file=tmp / f"{name}_int8_ov", **q)
        files["tflite"] = model.export("tflite", imgsz=size, file=tmp / f"{name}.tflite")
        files["tflite-int8"] = model.export("tflite", file=tmp / f"{name}_int8.tflite", **q)
    official, why = official_onnx(name, weights, model, tmp)  # before deploy(): unfused keys
    deployed = ExportGraph(model.deploy().model).eval()
    runs: dict[str, Callable] = {}

    def torch_run(x: np.ndarray):
        with torch.inference_mode():
            return deployed(torch.from_numpy(x))

    runs["pytorch"] = torch_run
    runs["onnxruntime"] = ort_runner(onnx_path)
    runs["openvino"] = ov_runner(ov_path, "f32")
    runs["openvino-auto"] = ov_runner(ov_path, None)
    if not args.no_lowp:
        import openvino as ov

        if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            runs["openvino-bf16"] = ov_runner(ov_path, "bf16")
            files["openvino-bf16"] = ov_path
        runs["onnx-int8"] = ort_runner(files["onnx-int8"])
        runs["openvino-int8"] = ov_runner(files["openvino-int8"], "f32")
        runs["tflite"] = tflite_runner(files["tflite"])
        runs["tflite-int8"] = tflite_runner(files["tflite-int8"])
    notes = {}
    if official is not None:
        runs["official onnx"] = ort_runner(official)
    notes["official"] = why
    return runs, notes, model, files if weights else {}


def measure_ap(model, files: dict, data: str, imgsz: int) -> dict[str, float]:
    """AP of PyTorch and of every backend's own file on data's val split (same protocol)."""
    from yoloarena.data.load import load_dataset
    from yoloarena.engine.validator import validate

    dataset = load_dataset(data, "val")
    proto = yoloarena.export.load_exported(files["onnxruntime"]).eval_protocol  # square, fixed
    out = {"pytorch": validate(model, dataset, imgsz, 16, proto).metrics.stats["AP"]}
    for key, path in files.items():
        net = yoloarena.export.load_exported(path, precision="bf16" if "bf16" in key else None)
        out[key] = validate(net, dataset, imgsz, 16, proto).metrics.stats["AP"]
    return out


def check_outputs(runs: dict[str, Callable], x: np.ndarray) -> dict[str, float]:
    """Max |diff| of each backend's first output (boxes, or the official's packed output's
    first 4 columns as xyxy) against PyTorch's boxes (INT8 and bf16 differ by design: their
    check is the AP)."""
    ref = runs["pytorch"](x)[0].numpy()
    diffs = {}
    for key, fn in runs.items():
        out = np.asarray(fn(x)[0])
        if key == "official onnx":  # [1, N, 85]: cx, cy, w, h, ...
            c, wh = out[..., :2], out[..., 2:4]
            out = np.concatenate((c - wh / 2, c + wh / 2), -1)
        diffs[key] = float(np.abs(out - ref).max())
    return diffs


def time_round_robin(runs: dict[str, Callable], x: np.ndarray, n: int, warmup: int) -> dict:
    """n timed calls per backend in blocks of 3, the backends taking turns (rotating order);
    each block starts with an untimed call, so that threads of the previous runtime still
    spinning after its block (ONNX Runtime's, OpenMP's) do not count against this one."""
    keys = list(runs)
    times: dict[str, list[float]] = {k: [] for k in keys}
    for key in keys:
        for _ in range(warmup):
            runs[key](x)
    turn = 0
    while any(len(times[k]) < n for k in keys):
        shift = turn % len(keys)
        for key in keys[shift:] + keys[:shift]:
            runs[key](x)
            for _ in range(min(3, n - len(times[key]))):
                t0 = time.perf_counter()
                runs[key](x)
                times[key].append((time.perf_counter() - t0) * 1e3)
        turn += 1
    return times


def report(
    name: str, times: dict, diffs: dict, gflop: float, peak: float, notes: dict, ap: dict
) -> None:
    off = statistics.median(times["official onnx"]) if "official onnx" in times else None
    ort = statistics.median(times["onnxruntime"])
    print(f"\n{name}: {gflop:.2f} GFLOPs per forward (deployed)")
    print(f"  {'backend':<15} {'median ms':>10} {'p90 ms':>8} {'GFLOPS':>8} {'% peak':>7} "
          f"{'official/this':>13} {'ORT/this':>8} {'max|d boxes|':>12} {'AP':>7}")  # fmt: skip
    for key, t in times.items():
        med, p90 = statistics.median(t), float(np.percentile(t, 90))
        rate = gflop / (med / 1e3)
        ratio = f"{off / med:13.2f}" if off else f"{'-':>13}"
        score = f"{ap[key]:7.4f}" if key in ap else f"{'-':>7}"
        print(f"  {key:<15} {med:10.1f} {p90:8.1f} {rate:8.1f} {100 * rate / peak:6.0f}% {ratio} "
              f"{ort / med:8.2f} {diffs[key]:12.2e} {score}")  # fmt: skip
    best = min(times, key=lambda k: statistics.median(times[k]))
    print(f"  best: {best}, {ort / statistics.median(times[best]):.2f}x FP32 ONNX Runtime")
    print(f"  official: {notes['official']}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    peak = matmul_peak()
    import onnxruntime
    import openvino

    print("yoloarena export latency (CPU, batch 1): median over round-robin runs")
    print(f"  torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, openvino "
          f"{openvino.__version__}, python {platform.python_version()}")  # fmt: skip
    print(f"  CPU: {cpu_name()} ({os.cpu_count()} logical cores), {THREADS} threads per backend")
    print(f"  measured fp32 matmul peak (torch.mm 2048^2): {peak:.1f} GFLOPS")
    print(f"  runs {args.runs} after {args.warmup} warm-up; imgsz {args.imgsz}; {load_note()}")
    print(
        "  openvino = FP32 IR computed in f32; openvino-auto = the plugin's default precision "
        "(bf16 on AMX/AVX512-BF16 CPUs: faster, less exact; not an fp32 figure)"
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="yoloarena-exportbench-") as tmp:
        args.data = stage_coco128(Path(tmp))
        for name in args.models:
            runs, notes, model, files = backends(name, Path(tmp), args)
            x = rng.random((1, 3, args.imgsz, args.imgsz), dtype=np.float32)
            if model.transform.divisor == 1.0:
                x = x * 255
            diffs = check_outputs(runs, x)
            gflop = count_flops(model.model, args.imgsz) / 1e9
            times = time_round_robin(runs, x, args.runs, args.warmup)
            ap = measure_ap(model, files, str(args.data), args.imgsz) if files else {}
            report(name, times, diffs, gflop, peak, notes, ap)
    print(f"\n{load_note()} (at the end)")


if __name__ == "__main__":
    main()
