"""Latency of one model per backend: model only (the network on a ready tensor) and end to end
(`predict` on an image: resize, network, NMS, mapping back), with predict's own pre- and
post-processing times of the same calls.

Backends: torch (the deployed model), onnx (onnxruntime), openvino (FP32 IR computed in f32),
openvino-bf16 (the same IR computed in bf16, where the CPU has it), tflite (LiteRT, fp32), and
the INT8 files onnx-int8, openvino-int8 and tflite-int8 (calibrated on the train split of
`data`), each exported to a temporary folder at a fixed input size and batch 1 (a dynamic one
for input=rect) and checked by the export itself (float files against PyTorch, INT8 by AP).

Fair timing (`measure`): every backend runs in its own spawned worker process (bench/workers.py)
with the same thread count, so no other runtime's thread pool competes with it; the same input
policy for all (input=square: every image letterboxed or stretched to imgsz x imgsz; input=rect:
YOLOv5's per-image stride-multiple rectangle, with dynamic exports); a warm-up, then blocks of
calls, the workers taking turns in a rotating order; medians and p90; the machine's load around
every block, so that results taken under contention are flagged.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..devices import select_device
from ..errors import YoloArenaError, unknown
from ..models.base import Detector
from .load import LoadSampler, contended, contention_text, mean_load
from .workers import Timings, WorkerPool, WorkerSpec, run_blocks

LOGGER = logging.getLogger("yoloarena")
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-bf16", "openvino-int8", "tflite",
            "tflite-int8")  # fmt: skip
INT8 = ("onnx-int8", "openvino-int8", "tflite-int8")
INPUTS = ("square", "rect")
FIXED_ONLY = ("tflite", "tflite-int8")  # exported at a fixed size only


@dataclass
class Latency:
    """One backend's timing record (ms; medians over the timed calls unless p90)."""

    backend: str
    median_ms: float  # model only
    p90_ms: float
    e2e_median_ms: float  # predict() per image, end to end
    e2e_p90_ms: float
    runs: int
    precision: str = "fp32"  # what the backend computes in (the file's and the runtime's)
    input: str = ""  # the input policy these figures were taken under
    input_shapes: list = field(default_factory=list)  # (h, w) the network saw
    # the stages of the same end-to-end calls: predict's own pre-processing (resize, normalise)
    # and network times; post-processing = the rest of the call (NMS, mapping back, results)
    preprocess_ms: float = math.nan
    inference_e2e_ms: float = math.nan
    postprocess_ms: float = math.nan
    nms_ms: float = math.nan  # NMS alone, part of post-processing
    # median over the end-to-end calls of: the call / (model-only median + its pre + its post);
    # near 1 when the network runs inside predict as fast as alone
    e2e_ratio: float = math.nan
    # the same for the best calls: min over calls of call / (model-only min + its pre + post);
    # random preemption by other processes cannot raise it, a network slowed inside predict can
    e2e_ratio_best: float = math.nan
    threads: int = 0
    other_cores: float | None = None  # cores other processes used while this backend was timed
    contention: bool = False
    samples: dict = field(default_factory=dict)  # every timed call (ms), for re-analysis

    def to_dict(self) -> dict:
        return {**vars(self), "contention_text": contention_text(self.other_cores)}


def parse_backends(text: str | Sequence[str]) -> list[str]:
    names = [b.strip().lower() for b in (text.split(",") if isinstance(text, str) else text)]
    names = [{"pytorch": "torch", "ort": "onnx", "onnxruntime": "onnx"}.get(b, b) for b in names]
    for b in names:
        if b not in BACKENDS:
            raise unknown("backend", b, BACKENDS, hint="backends=" + ",".join(BACKENDS))
    if not names:
        raise YoloArenaError("backends= is empty; give e.g. backends=torch,onnx")
    return list(dict.fromkeys(names))


def check_input(policy: str, backends: Sequence[str] = ()) -> str:
    policy = str(policy).strip().lower()
    if policy not in INPUTS:
        raise unknown("input", policy, INPUTS, hint="input=square (every backend at imgsz x "
                      "imgsz) or input=rect (per-image rectangle, dynamic exports)")  # fmt: skip
    fixed = [b for b in backends if b in FIXED_ONLY]
    if policy == "rect" and fixed:
        raise YoloArenaError(f"input=rect needs a dynamic export; {', '.join(fixed)} files have a "
                             "fixed size: use input=square or leave them out")  # fmt: skip
    return policy


def input_text(policy: str, imgsz: int) -> str:
    if policy == "square":
        return f"square {imgsz}x{imgsz}"
    return f"rect (per image, long side {imgsz}; dynamic exports)"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def export_files(
    model: Detector,
    backends: Sequence[str],
    imgsz: int,
    folder: Path,
    device: str | torch.device = "cpu",
    data: str | None = None,
    half: bool = False,
    dynamic: bool = False,
) -> dict[str, tuple[Path, str | None]]:
    """(file, OpenVINO precision) of every exported backend (INT8 ones calibrated on data's
    train split; openvino-bf16 is the FP32 IR run in bf16; half: an FP16 export)."""
    from ..export import export_model

    if any(b in INT8 for b in backends) and not data:
        raise YoloArenaError(
            f"backends {', '.join(b for b in backends if b in INT8)} need data=<dataset yaml>: "
            "INT8 calibration images come from its train split"
        )
    files: dict[str, Path] = {}
    out: dict[str, tuple[Path, str | None]] = {}
    for b in backends:  # exports copy the model before deploying it
        if b == "torch":
            continue
        fmt, _, variant = b.partition("-")
        key = f"{fmt}-int8" if variant == "int8" else fmt
        if key not in files:
            path = folder / f"{model.model_name or 'model'}_{key}"
            kwargs = {"int8": True, "data": data} if variant == "int8" else {"half": half}
            files[key] = export_model(model, fmt, imgsz=imgsz, file=path, device=device,
                                      dynamic=dynamic, **kwargs).path  # fmt: skip
        out[b] = (files[key], "bf16" if variant == "bf16" else None)
    return out


def build_backends(
    model: Detector,
    backends: Sequence[str],
    imgsz: int,
    folder: Path,
    device: str | torch.device = "cpu",
    data: str | None = None,
    half: bool = False,
) -> dict[str, Detector]:
    """One Detector per backend in this process: the deployed model itself, or its export
    loaded back (see export_files)."""
    from ..export import load_exported

    files = export_files(model, backends, imgsz, folder, device, data, half)
    out = {b: load_exported(path, device, precision) for b, (path, precision) in files.items()}
    if "torch" in backends:
        out["torch"] = model.deploy()
    return {b: out[b] for b in backends}


@dataclass(frozen=True)
class BackendJob:
    """What a backend's worker loads and how it feeds it (picklable)."""

    backend: str
    path: str  # torch: the deployed model saved with torch.save; else the exported file
    precision: str | None
    device: str
    imgsz: int
    policy: str
    threads: int


def backend_calls(job: BackendJob, images: Sequence[np.ndarray]):
    """Worker factory: loads one backend and returns its calls, "model" (the network on the
    timing images' ready tensors, cycling) and "e2e" (predict on the images, cycling; returns
    predict's own stage times), and what the worker ran (precision, input shapes)."""
    from ..export.runtime import load_exported, precision_of

    dev = select_device(job.device)
    if job.backend == "torch":
        net = torch.load(job.path, map_location=dev, weights_only=False).deploy()
    else:
        net = load_exported(job.path, dev, job.precision, threads=job.threads or None)
    shape = (job.imgsz, job.imgsz) if job.policy == "square" else None
    inputs = []
    for img in images:  # the tensors predict itself would feed the network
        x, _ = net.transform([img], job.imgsz, dev, shape=shape)
        inputs.append(x if job.backend == "torch" else x.contiguous())
    model_fn = _model_call(net, inputs)
    state = {"i": 0}

    def e2e() -> dict:
        img = images[state["i"] % len(images)]
        state["i"] += 1
        speed = net.predict(img, imgsz=job.imgsz, conf=0.25, shape=shape)[0].speed
        return {"pre": speed["preprocess"], "inference": speed["inference"],
                "nms": speed["postprocess"]}  # fmt: skip

    shapes = sorted({tuple(int(s) for s in x.shape[2:]) for x in inputs})
    info = {"precision": precision_of(net), "input_shapes": [list(s) for s in shapes]}
    return {"model": model_fn, "e2e": e2e}, info


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
    policy: str = "square",
    threads: int = 0,
    block: int = 3,
) -> tuple[list[Latency], dict[str, dict]]:
    """Latency of model on each backend at imgsz (batch 1), each in its own worker process
    (see the module text), and evaluate(backend, detector) of each (its AP on a dataset,
    measured on the exported file, in this process after the timing) when given.

    images: BGR images for the timing (cycling). data: the dataset whose train split calibrates
    the INT8 backends. policy: square or rect. threads: every runtime's intra-op threads (0:
    torch's default here).
    """
    from ..export.runtime import load_exported

    policy = check_input(policy, backends)
    dev = select_device(device)
    threads = threads or torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="yoloarena-bench-") as tmp:
        files = export_files(model, backends, imgsz, Path(tmp), dev, data,
                             dynamic=policy == "rect")  # fmt: skip
        if "torch" in backends:
            files["torch"] = (Path(tmp) / "torch_model.pt", None)
            torch.save(model.deploy(), files["torch"][0])
        specs = []
        for b in backends:
            job = BackendJob(b, str(files[b][0]), files[b][1], str(dev), imgsz, policy, threads)
            specs.append(WorkerSpec(b, backend_calls, (job, tuple(images)), threads))
        with WorkerPool(specs) as pool:
            infos = {b: pool[b].info for b in backends}
            timings = run_blocks(pool, runs, warmup, ("model", "e2e"), block,
                                 LoadSampler(pool.pids))  # fmt: skip
        scores = {}
        if evaluate:
            for b in backends:
                path, precision = files[b]
                net = model.deploy() if b == "torch" else load_exported(path, dev, precision)
                scores[b] = evaluate(b, net)
    lats = [latency_of(b, timings, infos[b], input_text(policy, imgsz)) for b in backends]
    return lats, scores


def e2e_ratios(model_ms: float, e2e: Sequence[float], pre: Sequence[float],
               post: Sequence[float]) -> list[float]:  # fmt: skip
    """Per end-to-end call: call / (model-only time + the call's own pre- and post-processing),
    how much slower the network ran inside predict than alone. Per call, so that a call
    preempted in its pre- or post-processing does not count as a slow network."""
    return [f / (model_ms + a + b) for f, a, b in zip(e2e, pre, post, strict=True)]


def latency_of(backend: str, t: Timings, info: dict, policy_text: str) -> Latency:
    model, calls = t.values(backend, "model"), t.samples[backend]["e2e"]
    e2e = [s["ms"] for s in calls]
    pre, inference = [s["pre"] for s in calls], [s["inference"] for s in calls]
    post = [s["ms"] - s["pre"] - s["inference"] for s in calls]
    nms = [s["nms"] for s in calls]
    other = mean_load(t.loads[backend])
    samples = {"model": model, "e2e": e2e, "pre": pre, "inference": inference, "post": post,
               "nms": nms}  # fmt: skip
    return Latency(
        backend, _median(model), _percentile(model, 90), _median(e2e), _percentile(e2e, 90),
        len(model), info["precision"], policy_text, info["input_shapes"], _median(pre),
        _median(inference), _median(post), _median(nms),
        _median(e2e_ratios(_median(model), e2e, pre, post)),
        min(e2e_ratios(min(model), e2e, pre, post), default=math.nan),
        info["torch_threads"], other, contended(other),
        {k: [round(v, 4) for v in vals] for k, vals in samples.items()},
    )  # fmt: skip


def model_latency(
    model: Detector,
    backends: Sequence[str],
    imgsz: int,
    runs: int = 20,
    warmup: int = 3,
    device: str | torch.device = "cpu",
    half: bool = False,
) -> dict[str, list[float]]:
    """Model-only latency samples (ms) per backend in this process (the search times one
    backend at a time with it; a generated scene as input; the torch backend deploys model in
    place)."""
    from ..export.check import check_image, parity_input

    dev = select_device(device)
    with tempfile.TemporaryDirectory(prefix="yoloarena-bench-") as tmp:
        nets = build_backends(model, backends, imgsz, Path(tmp), dev, half=half)
        x = parity_input(model, check_image(None), (imgsz, imgsz), 1).to(dev)
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        calls = {b: _model_call(net, [x_nhwc if b == "torch" else x]) for b, net in nets.items()}
        return _round_robin(calls, runs, warmup)


def _model_call(net: Detector, inputs: Sequence[torch.Tensor]) -> Callable[[], object]:
    """The network alone on ready tensors, cycling: an exported file's runtime session, or the
    PyTorch model under inference_mode (synchronised on CUDA)."""
    state = {"i": 0}
    session = getattr(net, "session", None)

    def run() -> object:
        x = inputs[state["i"] % len(inputs)]
        state["i"] += 1
        if session is not None:  # an exported file: its runtime alone
            return session(x)
        with torch.inference_mode():
            out = net(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        return out

    return run


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def _round_robin(
    fns: dict[str, Callable[[], object]], runs: int, warmup: int, block: int = 3
) -> dict:
    """runs timed calls per backend in this process, in blocks of `block` consecutive calls,
    the backends taking turns (rotating order), each block after one untimed call."""
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
