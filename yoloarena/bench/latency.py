"""Latency of one model per backend: model only (the network on a ready tensor) and end to end
(decode, preprocess, network, NMS, mapping back: `predict` on real images).

Backends: torch (the deployed model), onnx (onnxruntime), openvino (FP32 IR computed in f32),
each exported to a temporary folder at a fixed input size and batch 1, and checked against
PyTorch by the export itself. Calls are timed round-robin over the backends after a warm-up, so
that drift on a noisy machine hits all of them alike.
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
BACKENDS = ("torch", "onnx", "openvino")
_FORMAT = {"onnx": "onnx", "openvino": "openvino"}


@dataclass
class Latency:
    backend: str
    median_ms: float  # model only
    p90_ms: float
    e2e_median_ms: float  # predict() per image, end to end
    e2e_p90_ms: float
    runs: int

    def to_dict(self) -> dict:
        return dict(vars(self))


def parse_backends(text: str | Sequence[str]) -> list[str]:
    names = [b.strip().lower() for b in (text.split(",") if isinstance(text, str) else text)]
    names = [{"pytorch": "torch", "ort": "onnx", "onnxruntime": "onnx"}.get(b, b) for b in names]
    for b in names:
        if b not in BACKENDS:
            raise unknown("backend", b, BACKENDS, hint="backends=torch,onnx,openvino")
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
    half: bool = False,
) -> dict[str, Detector]:
    """One Detector per backend: the deployed model itself, or its export loaded back (half: an
    FP16 export, for the backends that take one)."""
    from ..export import export_model, load_exported

    out: dict[str, Detector] = {}
    for b in backends:  # exports first: they copy the model before deploying it
        if b != "torch":
            path = folder / f"{model.model_name or 'model'}_{b}"
            result = export_model(
                model, _FORMAT[b], imgsz=imgsz, file=path, device=device, half=half
            )
            out[b] = load_exported(result.path, device)
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
) -> list[Latency]:
    """Latency of model on each backend at imgsz (square input, batch 1).

    images: BGR images for the end-to-end timing (one predict call per image, cycling).
    """
    from ..export.check import parity_input

    dev = select_device(device)
    with tempfile.TemporaryDirectory(prefix="yoloarena-bench-") as tmp:
        nets = build_backends(model, backends, imgsz, Path(tmp), dev)
        x = parity_input(model, images[0], (imgsz, imgsz), 1).to(dev)  # contiguous NCHW
        # each backend gets the layout it reads without a copy inside the timed call
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        calls = {b: _model_call(net, x_nhwc if b == "torch" else x) for b, net in nets.items()}
        e2e = {b: _predict_call(net, images, imgsz) for b, net in nets.items()}
        only = _round_robin(calls, runs, warmup)
        full = _round_robin(e2e, runs, warmup)
    out = []
    for b in nets:
        o, f = only[b], full[b]
        out.append(Latency(b, statistics.median(o), _percentile(o, 90), statistics.median(f),
                           _percentile(f, 90), runs))  # fmt: skip
    return out


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
        nets = build_backends(model, backends, imgsz, Path(tmp), dev, half)
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
