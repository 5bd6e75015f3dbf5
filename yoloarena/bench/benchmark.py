"""`yoloarena benchmark`: params, GFLOPs and latency per backend for several models, plus AP
per backend when a dataset and weights are given (each backend's exported file is run through
val: INT8 and bf16 accuracy is measured, never assumed); published figures in their own,
labelled columns. Results go to runs/benchmark/<name>/ (project=X name=Y: X/Y).

Fair timing (bench/latency.py): each backend in its own worker process, one input policy for
all (input=square|rect, stated in every row), warm-up, alternated blocks, median and p90, and a
breakdown per backend (model only, pre-processing, post-processing, end to end). "% of peak"
divides by a measured 3x3 channels-last convolution (bench/peak.py; the matmul rate beside it).
The machine's load is sampled at start-up and around every timed block (bench/load.py): rows
taken while other processes used the cores are marked `contention: yes (other load N cores)`.

    yoloarena benchmark models=yolov5n,yolov5s,damoyolo-t imgsz=640 backends=torch,onnx,openvino
    yoloarena benchmark models=yolov5n.pt data=coco128.yaml \
        backends=torch,onnx,onnx-int8,openvino,openvino-bf16,openvino-int8
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import param, save_yaml, to_dict
from ..devices import FORMS, check_device
from ..errors import YoloArenaError
from ..models.base import Detector, EvalProtocol
from ..registry import get_entry, is_registered, list_models
from ..writes import write_json, write_text
from .environment import describe, environment
from .latency import check_input, measure, parse_backends
from .load import background_load, contended, contention_text
from .peak import measure_peak, percent_of
from .stats import count_flops, count_params

LOGGER = logging.getLogger("yoloarena")
# The protocol every model is validated under in benchmark and compare (each keeps its resize
# rule: letterbox for YOLOv5, stretch for DAMO-YOLO); square inputs, so latency is comparable.
PINNED = EvalProtocol(conf=0.001, iou=0.65, max_det=300, multi_label=True, rect=False)


@dataclass
class BenchmarkConfig:
    """Arguments of `yoloarena benchmark`."""

    models: list[str] = param(
        factory=lambda: ["yolov5n", "damoyolo-t"],
        help="registered names or weights files ('all': every model)",
    )
    imgsz: int = param(640, "input size (the square's side; the long side with input=rect)", gt=0)
    backends: str = param(
        "torch,onnx,openvino",
        "backends to time: torch, onnx, onnx-int8, openvino, openvino-bf16, openvino-int8, "
        "tflite, tflite-int8",
    )
    device: str = param("cpu", f"device: {FORMS}", check=check_device)
    runs: int = param(20, "timed runs per backend", ge=1)
    warmup: int = param(3, "untimed runs first", ge=0)
    input: str = param(
        "square",
        "input policy of every backend: square (imgsz x imgsz) or rect (per-image rectangle, "
        "dynamic exports)",
        check=check_input,
    )
    threads: int = param(0, "intra-op threads of every runtime (0: torch's default)", ge=0)
    data: str = param("", "dataset: AP per backend of weights files; calibrates INT8 backends")
    split: str = param("val", "dataset split for mAP")
    batch: int = param(16, "batch size for mAP", ge=1)
    source: str = param("", "images for the end-to-end timing ('': generated scenes)")
    project: str = param("", "run folder parent ('': runs/benchmark); results go to project/name")
    name: str = param("exp", "run folder name (exp, exp2, ... unless exist_ok)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")


def resolve_models(models: list[str]) -> list[str]:
    out: list[str] = []
    for m in models:
        out.extend(list_models() if m == "all" else [m])
    if not out:
        raise YoloArenaError("models= is empty; give e.g. models=yolov5n,damoyolo-t")
    return out


def timing_images(source: str, n: int = 4) -> list[np.ndarray]:
    """BGR images for end-to-end timing: the source's first n, or generated scenes."""
    if source:
        from ..data.images import read_image
        from ..data.sources import expand_paths

        paths = expand_paths(source)[:n]
        if not paths:
            raise YoloArenaError(f"source={source} has no images")
        return [read_image(p) for p in paths]
    from ..data.synthetic import SynthSpec, make_image

    rng = np.random.default_rng(0)
    return [make_image(SynthSpec(imgsz=640), rng)[0] for _ in range(n)]


def published_of(model: Detector) -> dict:
    """The official README figures of a registered model, with the input size they are for."""
    name = model.model_name
    if not (name and is_registered(name)):
        return {}
    entry = get_entry(name)
    return {**entry.published, "imgsz": entry.imgsz}


def model_row(
    spec: str,
    model: Detector,
    cfg: BenchmarkConfig,
    images: list[np.ndarray],
    metrics: dict | None = None,
    dataset=None,
    peak: dict | None = None,
) -> dict:
    """Everything measured about one model (its latency is measured here, and with a dataset
    the AP of every backend, from its exported file; `metrics` is then the PyTorch one's, or
    the first backend's). peak: the measured peak, for each backend's share of it."""
    weights = getattr(model, "weights_info", {}).get("path")
    model.deploy()
    row = {
        "model": spec,
        "model_name": model.model_name,
        "family": model.family,
        "weights": weights or "random init",
        "imgsz": cfg.imgsz,
        "params": count_params(model),
        "gflops": count_flops(model, cfg.imgsz) / 1e9,
        "latency": {},
        "metrics": metrics,
        "backend_metrics": {},
        "published": published_of(model),
    }
    backends = parse_backends(cfg.backends)
    evaluate = None
    if dataset is not None:

        def evaluate(backend: str, net: Detector) -> dict:
            if backend == "torch" and metrics is not None:  # already measured by the caller
                return metrics
            LOGGER.info("  val %s on %s", backend, cfg.data)
            return _val(net, dataset, cfg)

    lats, scores = measure(model, backends, cfg.imgsz, images, cfg.runs, cfg.warmup, cfg.device,
                           cfg.data or None, evaluate, cfg.input, cfg.threads)  # fmt: skip
    for lat in lats:
        row["latency"][lat.backend] = {**lat.to_dict(), **peak_share(row["gflops"], lat, peak)}
        if lat.contention:
            LOGGER.warning("  %s %s measured under contention: %s", spec, lat.backend,
                           contention_text(lat.other_cores))  # fmt: skip
        if lat.backend in scores:
            row["backend_metrics"][lat.backend] = {**scores[lat.backend],
                                                   "precision": lat.precision}  # fmt: skip
    row["contention"] = any(lat.contention for lat in lats)
    if scores and row["metrics"] is None:
        row["metrics"] = scores.get("torch") or next(iter(scores.values()))
    return row


FP32 = ("fp32", "fp32 IR, f32 compute")  # precisions an fp32 peak applies to


def peak_share(gflops: float, lat, peak: dict | None) -> dict:
    """GFLOP/s of the model-only median, and its % of the conv and matmul peaks (fp32 rows
    only: a bf16 or int8 rate is not a share of an fp32 peak)."""
    out = {"gflops_s": gflops / (lat.median_ms / 1e3)}
    if peak and lat.precision in FP32:
        out["pct_conv_peak"] = percent_of(gflops, lat.median_ms, peak["conv"]["gflops_s"])
        out["pct_matmul_peak"] = percent_of(gflops, lat.median_ms, peak["matmul"]["gflops_s"])
    return out


def startup_load(threads: int) -> float | None:
    """Other processes' load just before the benchmark starts; a warning when it is high."""
    other = background_load(0.5)
    if contended(other):
        LOGGER.warning(
            "the machine is busy: other processes use %.1f cores right now; latency measured "
            "beside them is slower than on a quiet machine (%d threads per backend), and rows "
            "taken under such load are marked 'contention: yes'", other, threads,
        )  # fmt: skip
    return other


def run_benchmark(cfg: BenchmarkConfig) -> tuple[Path, list[dict]]:
    import torch

    from ..engine.runs import run_dir
    from ..loading import load_model

    check_input(cfg.input, parse_backends(cfg.backends))  # fail early on bad names
    specs = resolve_models(cfg.models)
    images = timing_images(cfg.source)
    dataset = None
    if cfg.data:
        from ..data.classify import is_classify_data, load_classify
        from ..data.load import load_dataset

        loader = load_classify if is_classify_data(cfg.data) else load_dataset
        dataset = loader(cfg.data, cfg.split)
    threads = cfg.threads or torch.get_num_threads()
    load = {"startup_other_cores": startup_load(threads)}
    peak = measure_peak(threads, device=str(cfg.device))
    LOGGER.info("peak: conv %.1f GFLOP/s, matmul %.1f GFLOP/s (%d threads)",
                peak["conv"]["gflops_s"], peak["matmul"]["gflops_s"], threads)  # fmt: skip
    rows = []
    for spec in specs:
        LOGGER.info("benchmark: %s", spec)
        model = load_model(spec, device=cfg.device)
        scored = dataset if dataset is not None and not is_registered(spec) else None
        if dataset is not None and scored is None:  # AP needs trained weights
            LOGGER.info("  no AP for %s: a registered name has random weights; give a file", spec)
        rows.append(model_row(spec, model, cfg, images, None, scored, peak))
    out = run_dir(cfg.project, "benchmark", cfg.name, cfg.exist_ok)
    env = {**environment(cfg.device), "threads": threads}
    write_results(out, cfg, rows, env, peak, load)
    LOGGER.info("results saved to %s", out)
    return out, rows


def _val(model: Detector, dataset, cfg: BenchmarkConfig) -> dict:
    from ..engine.validator import validate

    if model.task == "classify" or getattr(dataset, "task", "") == "classify":
        from .classify import classify_metrics

        return classify_metrics(model, dataset, cfg.imgsz, cfg.batch)

    result = validate(model.deploy(), dataset, cfg.imgsz, cfg.batch, PINNED)
    return {**result.metrics.stats, **mask_stats(result), "protocol": result.protocol,
            "file": getattr(model, "source", "") or "PyTorch"}  # fmt: skip


def mask_stats(result) -> dict[str, float]:
    """A segmentation model's mask metrics as mask_AP, mask_AP50, ... (empty for detectors)."""
    if result.mask_metrics is None:
        return {}
    return {f"mask_{k}": v for k, v in result.mask_metrics.stats.items()}


def write_results(out: Path, cfg, rows: list[dict], env: dict, peak: dict | None = None,
                  load: dict | None = None) -> None:  # fmt: skip
    from .charts import plot_tradeoff
    from .tables import results_markdown

    save_yaml(cfg, out / "args.yaml")
    payload = {"environment": env, "args": to_dict(cfg), "peak": peak, "load": load or {},
               "models": rows}  # fmt: skip
    write_json(out / "results.json", payload, indent=1, default=float)
    flat = [flat_row(r) for r in rows]
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(k for r in flat for k in r)))
    writer.writeheader()
    writer.writerows(flat)
    write_text(out / "results.csv", table.getvalue())
    chart = plot_tradeoff(rows, out / "tradeoff.png")
    md = results_markdown(rows, describe(env), chart.name, peak, load)
    write_text(out / "results.md", md)
    print(md)


BREAKDOWN = ("median_ms", "p90_ms", "preprocess_ms", "inference_e2e_ms", "postprocess_ms",
             "nms_ms", "e2e_median_ms", "e2e_p90_ms", "e2e_ratio", "e2e_ratio_best", "gflops_s",
             "pct_conv_peak", "pct_matmul_peak", "other_cores")  # fmt: skip


def flat_row(row: dict) -> dict:
    flat = {k: row[k] for k in ("model", "family", "weights", "imgsz", "params")}
    flat["gflops"] = round(row["gflops"], 3)
    for b, lat in row["latency"].items():
        flat[f"{b}_input"] = lat.get("input", "")
        flat[f"{b}_precision"] = lat.get("precision", "")
        for k in BREAKDOWN:
            value = lat.get(k)
            flat[f"{b}_{k}"] = "" if value is None else round(value, 3)
        flat[f"{b}_contention"] = lat.get("contention_text", "")
    metrics = row.get("metrics") or {}
    for k in ("top1", "top5") if "top1" in metrics else ("AP", "AP50"):
        flat[k] = round(metrics[k], 4) if metrics else ""
    for k in ("mask_AP", "mask_AP50"):  # segmentation models
        if k in metrics:
            flat[k] = round(metrics[k], 4)
    for b, m in (row.get("backend_metrics") or {}).items():
        for k in ("top1", "top5") if "top1" in m else ("AP", "AP50", "mask_AP", "mask_AP50"):
            if k in m:
                flat[f"{b}_{k}"] = round(m[k], 4)
        flat[f"{b}_precision"] = m["precision"]
    pub = row.get("published") or {}
    flat["published_map50_95"] = pub.get("map50_95", "")
    return flat
