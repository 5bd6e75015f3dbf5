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

Every backend runs in its own worker process (yoloarena.bench.workers: spawned, one runtime
loaded, THREADS intra-op threads), so no other runtime's thread pool competes with the one being
timed. The workers take turns (blocks of 3 calls after one untimed call, the order rotating),
after a warm-up, so that drift on the noisy machine hits all alike; medians and p90 over --runs.
The machine's load is sampled around every block: a backend timed while other processes used
0.2 cores or more is marked in its "contention" column, with those cores. Achieved GFLOPS is
the model's forward FLOPs (2 x MACs, torch.utils.flop_counter on the deployed model) divided by
the median latency; "% peak" is against the measured fp32 peak of a 3x3 channels-last
convolution (128 -> 128 channels at 80x80, PyTorch/oneDNN, same threads, its own worker), with
the share of a measured matmul (torch.mm 2048^2) beside it: on AMD CPUs the matmul rate is
about half the convolution's, so a matmul peak flatters every backend.
Outputs of every backend are checked against PyTorch (in its worker) before timing.

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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from common import shared_dir, stage_coco128

import yoloarena
import yoloarena.export
from yoloarena import ArenaModel
from yoloarena.bench.environment import cpu_name, load_note
from yoloarena.bench.load import background_load, contention_text, mean_load
from yoloarena.bench.peak import measure_peak, peak_line
from yoloarena.bench.stats import count_flops
from yoloarena.bench.workers import WorkerPool, WorkerSpec, run_blocks
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
    """LiteRT's interpreter (torch's thread count: THREADS in the worker) through our session,
    which quantises the input of an int8 file as the file says."""
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


def torch_runner(path: Path) -> Callable[[np.ndarray], list]:
    """The deployed model's export graph (saved with torch.save by the parent)."""
    graph = torch.load(path, weights_only=False).eval()

    def run(x: np.ndarray):
        with torch.inference_mode():
            return graph(torch.from_numpy(x))

    return run


def runner_calls(kind: str, path: str, precision: str | None, x: np.ndarray):
    """Worker factory: one backend's runner on the input x, as "model" (timed) and "boxes"
    (its first output, for the check against PyTorch)."""
    if kind == "pytorch":
        fn = torch_runner(Path(path))
    elif kind == "ort":
        fn = ort_runner(Path(path))
    elif kind == "openvino":
        fn = ov_runner(Path(path), precision)
    else:
        fn = tflite_runner(Path(path))
    return {"model": lambda: fn(x), "boxes": lambda: np.asarray(fn(x)[0])}, {}


def backends(name: str, tmp: Path, args) -> tuple[dict, dict, object, dict]:
    """Runner descriptions per backend, (kind, path, precision) for runner_calls, notes, the
    model, and the file of each backend that has one (for its AP)."""
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
    graph_file = tmp / f"{name}_graph.pt"
    torch.save(ExportGraph(model.deploy().model).eval(), graph_file)
    runs: dict[str, tuple] = {
        "pytorch": ("pytorch", graph_file, None),
        "onnxruntime": ("ort", onnx_path, None),
        "openvino": ("openvino", ov_path, "f32"),
        "openvino-auto": ("openvino", ov_path, None),
    }
    if not args.no_lowp:
        import openvino as ov

        if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            runs["openvino-bf16"] = ("openvino", ov_path, "bf16")
            files["openvino-bf16"] = ov_path
        runs["onnx-int8"] = ("ort", files["onnx-int8"], None)
        runs["openvino-int8"] = ("openvino", files["openvino-int8"], "f32")
        runs["tflite"] = ("tflite", files["tflite"], None)
        runs["tflite-int8"] = ("tflite", files["tflite-int8"], None)
    notes = {}
    if official is not None:
        runs["official onnx"] = ("ort", official, None)
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


def check_outputs(pool: WorkerPool) -> dict[str, float]:
    """Max |diff| of each backend's first output (boxes, or the official's packed output's
    first 4 columns as xyxy) against PyTorch's boxes (INT8 and bf16 differ by design: their
    check is the AP)."""
    ref = pool["pytorch"].request("call", "boxes", what="checking its output")
    diffs = {}
    for key in pool.workers:
        out = pool[key].request("call", "boxes", what="checking its output")
        if key == "official onnx":  # [1, N, 85]: cx, cy, w, h, ...
            c, wh = out[..., :2], out[..., 2:4]
            out = np.concatenate((c - wh / 2, c + wh / 2), -1)
        diffs[key] = float(np.abs(out - ref).max())
    return diffs


def time_workers(runs: dict[str, tuple], x: np.ndarray, n: int, warmup: int):
    """Each backend in its own worker: the output check, then n timed calls per backend in
    alternated blocks. Returns (times per backend, diffs, other processes' cores per backend)."""
    specs = [WorkerSpec(key, runner_calls, (kind, str(path), precision, x), THREADS)
             for key, (kind, path, precision) in runs.items()]  # fmt: skip
    with WorkerPool(specs) as pool:
        diffs = check_outputs(pool)
        t = run_blocks(pool, n, warmup, ("model",))
    times = {key: t.values(key, "model") for key in runs}
    return times, diffs, {key: mean_load(t.loads[key]) for key in runs}


def report(name: str, times: dict, diffs: dict, gflop: float, peak: dict, notes: dict, ap: dict,
           other: dict) -> None:  # fmt: skip
    off = statistics.median(times["official onnx"]) if "official onnx" in times else None
    ort = statistics.median(times["onnxruntime"])
    conv, mm = peak["conv"]["gflops_s"], peak["matmul"]["gflops_s"]
    print(f"\n{name}: {gflop:.2f} GFLOPs per forward (deployed)")
    print(f"  {'backend':<15} {'median ms':>10} {'p90 ms':>8} {'GFLOPS':>8} {'% peak':>7} "
          f"{'% mm':>5} {'official/this':>13} {'ORT/this':>8} {'max|d boxes|':>12} {'AP':>7}  "
          "contention")  # fmt: skip
    for key, t in times.items():
        med, p90 = statistics.median(t), float(np.percentile(t, 90))
        rate = gflop / (med / 1e3)
        ratio = f"{off / med:13.2f}" if off else f"{'-':>13}"
        score = f"{ap[key]:7.4f}" if key in ap else f"{'-':>7}"
        print(f"  {key:<15} {med:10.1f} {p90:8.1f} {rate:8.1f} {100 * rate / conv:6.0f}% "
              f"{100 * rate / mm:4.0f}% {ratio} {ort / med:8.2f} {diffs[key]:12.2e} {score}  "
              f"{contention_text(other[key])}")  # fmt: skip
    best = min(times, key=lambda k: statistics.median(times[k]))
    print(f"  best: {best}, {ort / statistics.median(times[best]):.2f}x FP32 ONNX Runtime")
    print(f"  official: {notes['official']}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    busy = background_load(1.0)
    peak = measure_peak(THREADS)
    import onnxruntime
    import openvino

    print("yoloarena export latency (CPU, batch 1): medians over alternated blocks, each "
          "backend in its own worker process")  # fmt: skip
    print(f"  torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, openvino "
          f"{openvino.__version__}, python {platform.python_version()}")  # fmt: skip
    print(f"  CPU: {cpu_name()} ({os.cpu_count()} logical cores), {THREADS} threads per backend")
    print(f"  {peak_line(peak)}")
    print("  % peak = of the conv peak; % mm = of the matmul peak")
    print(f"  runs {args.runs} after {args.warmup} warm-up; imgsz {args.imgsz}; {load_note()}; "
          f"at start-up: contention {contention_text(busy)}")  # fmt: skip
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
            gflop = count_flops(model.model, args.imgsz) / 1e9
            times, diffs, other = time_workers(runs, x, args.runs, args.warmup)
            ap = measure_ap(model, files, str(args.data), args.imgsz) if files else {}
            report(name, times, diffs, gflop, peak, notes, ap, other)
    print(f"\n{load_note()} (at the end)")


if __name__ == "__main__":
    main()
