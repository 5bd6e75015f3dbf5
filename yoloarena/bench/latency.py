"""Latency of one model per backend: model only (the network on a ready tensor) and end to end
(decode, preprocess, network, NMS, mapping back: `predict` on real images).

Backends: torch (the deployed model), onnx (onnxruntime), openvino (FP32 IR computed in f32),
openvino-bf16 (the same IR computed in bf16, where the CPU has it), tflite (LiteRT, fp32), and
the INT8 files onnx-int8, openvino-int8 and tflite-int8 (calibrated on the train split of
`data`), each exported to a temporary folder at a fixed input size and batch 1 and checked by the
export itself (float files against PyTorch, INT8 files by AP). Calls are timed round-robin over
the backends after a warm-up, so that drift on a noisy machine hits all of them alike.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..devices import select_device
from ..errors import YoloArenaError, unknown
from ..models.base import Detector

LOGGER = logging.getLogger("yoloarena")
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-bf16", "openvino-int8", "tflite",
            "tflite-int8")  # fmt: skip
INT8 = ("onnx-int8", "openvino-int8", "tflite-int8")


@dataclass
class Latency:
    backend: str
    median_ms: float  # model only
    p90_ms: float
    e2e_median_ms: float  # predict() per image, end to end
    e2e_p90_ms: float
    runs: int
    precision: str = "fp32"  # what the backend computes in (the file's and the runtime's)

    def to_dict(self) -> dict:
        return dict(vars(self))


def parse_backends(text: str | Sequence[str]) -> list[str]:
    names = [b.strip().lower() for b in (text.split(",") if isinstance(text, str) else text)]
    names = [{"pytorch": "torch", "ort": "onnx", "onnxruntime": "onnx"}.get(b, b) for b in names]
    for b in names:
        if b not in BACKENDS:
            raise unknown("backend", b, BACKENDS, hint="backends=" + ",".join(BACKENDS))
    if not names:
        raise YoloArenaError("backends= is empty; give e.g. backends=torch,onnx")
    return list(dict.fromkeys(names))


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def build_backends(
    model: Detector,
    backends: Sequence[str],
    imgsz: int,
    folder: Path,
    device: str | torch.device = "cpu",
    data: str | None = None,
    half: bool = False,
) -> dict[str, Detector]:
    """One Detector per backend: the deployed model itself, or its export loaded back (INT8
    backends calibrated on data's train split; openvino-bf16 is the FP32 IR run in bf16; half:
    an FP16 export, for the backends that take one)."""
    from ..export import export_model, load_exported

    if any(b in INT8 for b in backends) and not data:
        raise YoloArenaError(
            f"backends {', '.join(b for b in backends if b in INT8)} need data=<dataset yaml>: "
            "INT8 calibration images come from its train split"
        )
    files: dict[str, Path] = {}
    out: dict[str, Detector] = {}
    for b in backends:  # exports first: they copy the model before deploying it
        if b == "torch":
            continue
        fmt, _, variant = b.partition("-")
        key = f"{fmt}-int8" if variant == "int8" else fmt
        if key not in files:
            path = folder / f"{model.model_name or 'model'}_{key}"
            kwargs = {"int8": True, "data": data} if variant == "int8" else {"half": half}
            files[key] = export_model(model, fmt, imgsz=imgsz, file=path, device=device,
                                      **kwargs).path  # fmt: skip
        out[b] = load_exported(files[key], device, "bf16" if variant == "bf16" else None)
    if "torch" in backends:
        out["torch"] = model.deploy()
    return {b: out[b] for b in backends}


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def measure(
    model: Detector,
    backends: Sequence[str],
    imgsz: int,
    images: Sequence[np.ndarray],
    runs: int = 20,
    warmup: int = 3,
    device: str | torch.device = "cpu",
    data: str | None = None,
    evaluate: Callable[[str, Detector], dict] | None = None,
) -> tuple[list[Latency], dict[str, dict]]:
    """Latency of model on each backend at imgsz (square input, batch 1), and evaluate(backend,
    detector) of each (its AP on a dataset, measured on the exported file) when given.

    images: BGR images for the end-to-end timing (one predict call per image, cycling).
    data: the dataset whose train split calibrates the INT8 backends.
    """
    from ..export.check import parity_input
    from ..export.runtime import precision_of

    dev = select_device(device)
    with tempfile.TemporaryDirectory(prefix="yoloarena-bench-") as tmp:
        nets = build_backends(model, backends, imgsz, Path(tmp), dev, data)
        x = parity_input(model, images[0], (imgsz, imgsz), 1).to(dev)  # contiguous NCHW
        # each backend gets the layout it reads without a copy inside the timed call
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        calls = {b: _model_call(net, x_nhwc if b == "torch" else x) for b, net in nets.items()}
        e2e = {b: _predict_call(net, images, imgsz) for b, net in nets.items()}
        only = _round_robin(calls, runs, warmup)
        full = _round_robin(e2e, runs, warmup)
        scores = {b: evaluate(b, net) for b, net in nets.items()} if evaluate else {}
        precision = {b: precision_of(net) for b, net in nets.items()}
    out = []
    for b in nets:
        o, f = only[b], full[b]
        out.append(Latency(b, statistics.median(o), _percentile(o, 90), statistics.median(f),
                           _percentile(f, 90), runs, precision[b]))  # fmt: skip
    return out, scores


def model_latency(
    model: Detector,
    backends: Sequence[str],
    imgsz: int,
    runs: int = 20,
    warmup: int = 3,
    device: str | torch.device = "cpu",
    half: bool = False,
) -> dict[str, list[float]]:
    """Model-only latency samples (ms) per backend: the timing of `measure` without the
    end-to-end part (a generated scene as input; the torch backend deploys model in place)."""
    from ..export.check import check_image, parity_input

    dev = select_device(device)
    with tempfile.TemporaryDirectory(prefix="yoloarena-bench-") as tmp:
        nets = build_backends(model, backends, imgsz, Path(tmp), dev, half=half)
        x = parity_input(model, check_image(None), (imgsz, imgsz), 1).to(dev)
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        calls = {b: _model_call(net, x_nhwc if b == "torch" else x) for b, net in nets.items()}
        return _round_robin(calls, runs, warmup)


def _model_call(net: Detector, x: torch.Tensor) -> Callable[[], object]:
    session = getattr(net, "session", None)
    if session is not None:  # an exported file: its runtime alone
        return lambda: session(x)

    def run() -> object:
        with torch.inference_mode():
            out = net(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        return out

    return run


def _predict_call(net: Detector, images: Sequence[np.ndarray], imgsz: int) -> Callable[[], object]:
    state = {"i": 0}

    def run() -> object:
        img = images[state["i"] % len(images)]
        state["i"] += 1
        return net.predict(img, imgsz=imgsz, conf=0.25)

    return run


def _round_robin(
    fns: dict[str, Callable[[], object]], runs: int, warmup: int, block: int = 3
) -> dict:
    """runs timed calls per backend, in blocks of `block` consecutive calls, the backends taking
    turns (rotating order). Each block starts with one untimed call, so that a runtime's threads
    still spinning after the previous backend's block do not count against this one."""
    keys = list(fns)
    times: dict[str, list[float]] = {k: [] for k in keys}
    for k in keys:
        for _ in range(warmup):
            fns[k]()
    turn = 0
    while any(len(times[k]) < runs for k in keys):
        shift = turn % len(keys)
        for k in keys[shift:] + keys[:shift]:
            fns[k]()
            for _ in range(min(block, runs - len(times[k]))):
                times[k].append(_timed(fns[k]))
        turn += 1
    return times
