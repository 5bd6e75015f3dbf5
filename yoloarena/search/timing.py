"""Latency of one detector part on a backend, set up as `bench.latency` sets up whole networks.

torch: the fused part, weights and inputs channels-last, under inference_mode; onnx: the part
exported (opset 17, simplified) and run in an ONNX Runtime session with the runtime's providers;
openvino: that ONNX file converted and compiled for CPU with the LATENCY hint and the inference
precision pinned (f32, or f16 with half=True where the CPU has FP16), as `export.runtime` does.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..devices import select_device
from ..errors import YoloArenaError
from ..export.formats import quiet_tracing, require
from ..models.damoyolo.parts import Part, build_part


def _inputs(part: Part, device: torch.device) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, *shape, generator=g).to(device) for shape in part.inputs]


def _torch_call(module: torch.nn.Module, xs: list[torch.Tensor], half: bool) -> Callable:
    dev = xs[0].device
    module = module.to(dev, memory_format=torch.channels_last)
    xs = [x.contiguous(memory_format=torch.channels_last) for x in xs]
    if half:
        module, xs = module.half(), [x.half() for x in xs]

    def run() -> object:
        with torch.inference_mode():
            out = module(*xs)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return out

    return run


def _onnx_file(module: torch.nn.Module, xs: list[torch.Tensor], folder: Path) -> Path:
    path = folder / "part.onnx"
    names = [f"x{i}" for i in range(len(xs))]
    args = tuple(x.cpu() for x in xs)
    with quiet_tracing():
        torch.onnx.export(module.cpu(), args, str(path), dynamo=False, opset_version=17,
                          input_names=names, do_constant_folding=True)  # fmt: skip
    onnx, slim = require("onnx", "ONNX export"), require("onnxslim", "ONNX simplification")
    onnx.save(slim.slim(onnx.load(str(path))), str(path))
    return path


def _onnx_call(path: Path, xs: list[torch.Tensor], device: torch.device) -> Callable:
    ort = require("onnxruntime", "Running ONNX models")
    providers: list = ["CPUExecutionProvider"]
    if device.type == "cuda":
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    sess = ort.InferenceSession(str(path), providers=providers)
    feeds = {i.name: x.cpu().numpy() for i, x in zip(sess.get_inputs(), xs, strict=True)}
    return lambda: sess.run(None, feeds)


def _openvino_call(path: Path, xs: list[torch.Tensor], half: bool) -> Callable:
    ov = require("openvino", "Running OpenVINO models")
    core = ov.Core()
    model = ov.convert_model(str(path))
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if half and "FP16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        config["INFERENCE_PRECISION_HINT"] = "f16"
    request = core.compile_model(model, "CPU", config).create_infer_request()
    feeds = {i: x.cpu().numpy() for i, x in enumerate(xs)}
    return lambda: request.infer(feeds)


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> float:
    """Median ms of runs calls after warmup calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def time_part(
    part: Part, backend: str, device: str = "cpu", half: bool = False, runs: int = 10,
    warmup: int = 3,
) -> float:  # fmt: skip
    """Median latency (ms) of the part on backend, batch 1."""
    dev = select_device(device)
    module = build_part(part)
    xs = _inputs(part, dev)
    if backend == "torch":
        return time_calls(_torch_call(module, xs, half), runs, warmup)
    if backend not in ("onnx", "openvino"):
        raise YoloArenaError(f"backend={backend} is not one of torch, onnx, openvino")
    with tempfile.TemporaryDirectory(prefix="yoloarena-part-") as tmp:
        path = _onnx_file(module, xs, Path(tmp))
        call = _onnx_call(path, xs, dev) if backend == "onnx" else _openvino_call(path, xs, half)
        return time_calls(call, runs, warmup)
