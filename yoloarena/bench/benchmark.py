"""`yoloarena benchmark`: params, GFLOPs and latency per backend for several models, plus mAP
when a dataset and weights are given; published figures in their own, labelled columns.

    yoloarena benchmark models=yolov5n,yolov5s,damoyolo-t imgsz=640 backends=torch,onnx,openvino
    yoloarena benchmark models=yolov5n.pt,best.pt data=data.yaml      # with mAP on your data
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import save_yaml, to_dict
from ..errors import YoloArenaError
from ..models.base import Detector, EvalProtocol
from ..registry import get_entry, is_registered, list_models
from .environment import describe, environment
from .latency import measure, parse_backends
from .stats import count_flops, count_params

LOGGER = logging.getLogger("yoloarena")
# The protocol every model is validated under in benchmark and compare (each keeps its resize
# rule: letterbox for YOLOv5, stretch for DAMO-YOLO); square inputs, so latency is comparable.
PINNED = EvalProtocol(conf=0.001, iou=0.65, max_det=300, multi_label=True, rect=False)


@dataclass
class BenchmarkConfig:
    models: list[str] = field(default_factory=lambda: ["yolov5n", "damoyolo-t"])  # or "all"
    imgsz: int = 640
    backends: str = "torch,onnx,openvino"
    device: str = "cpu"
    runs: int = 20
    warmup: int = 3
    data: str = ""  # a dataset: mAP of the models given as weights files
    split: str = "val"
    batch: int = 16
    source: str = ""  # images for the end-to-end timing (default: generated scenes)
    project: str = "runs"
    name: str = "exp"
    exist_ok: bool = False


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
) -> dict:
    """Everything measured about one model (its latency is measured here)."""
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
        "published": published_of(model),
    }
    backends = parse_backends(cfg.backends)
    for lat in measure(model, backends, cfg.imgsz, images, cfg.runs, cfg.warmup, cfg.device):
        row["latency"][lat.backend] = lat.to_dict()
    return row


def run_benchmark(cfg: BenchmarkConfig) -> tuple[Path, list[dict]]:
    from ..engine.runs import run_dir
    from ..loading import load_model

    parse_backends(cfg.backends)  # fail early on a bad backend name
    specs = resolve_models(cfg.models)
    images = timing_images(cfg.source)
    dataset = None
    if cfg.data:
        from ..data.classify import is_classify_data, load_classify
        from ..data.load import load_dataset

        load = load_classify if is_classify_data(cfg.data) else load_dataset
        dataset = load(cfg.data, cfg.split)
    rows = []
    for spec in specs:
        LOGGER.info("benchmark: %s", spec)
        model = load_model(spec, device=cfg.device)
        metrics = None
        if dataset is not None and not is_registered(spec):  # mAP needs trained weights
            metrics = _val(model, dataset, cfg)
        elif dataset is not None:
            LOGGER.info("  no AP for %s: a registered name has random weights; give a file", spec)
        rows.append(model_row(spec, model, cfg, images, metrics))
    out = run_dir(cfg.project, "benchmark", cfg.name, cfg.exist_ok)
    write_results(out, cfg, rows, environment(cfg.device))
    LOGGER.info("results saved to %s", out)
    return out, rows


def _val(model: Detector, dataset, cfg: BenchmarkConfig) -> dict:
    from ..engine.validator import validate

    if model.task == "classify" or getattr(dataset, "task", "") == "classify":
        from .classify import classify_metrics

        return classify_metrics(model, dataset, cfg.imgsz, cfg.batch)

    result = validate(model.deploy(), dataset, cfg.imgsz, cfg.batch, PINNED)
    return {**result.metrics.stats, "protocol": result.protocol}


def write_results(out: Path, cfg, rows: list[dict], env: dict) -> None:
    from .charts import plot_tradeoff
    from .tables import results_markdown

    save_yaml(cfg, out / "args.yaml")
    payload = {"environment": env, "args": to_dict(cfg), "models": rows}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=float))
    with (out / "results.csv").open("w", newline="") as f:
        flat = [flat_row(r) for r in rows]
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in flat for k in r)))
        writer.writeheader()
        writer.writerows(flat)
    chart = plot_tradeoff(rows, out / "tradeoff.png")
    (out / "results.md").write_text(results_markdown(rows, describe(env), chart.name))
    print((out / "results.md").read_text())


def flat_row(row: dict) -> dict:
    flat = {k: row[k] for k in ("model", "family", "weights", "imgsz", "params")}
    flat["gflops"] = round(row["gflops"], 3)
    for b, lat in row["latency"].items():
        for k in ("median_ms", "p90_ms", "e2e_median_ms", "e2e_p90_ms"):
            flat[f"{b}_{k}"] = round(lat[k], 2)
    for k in ("top1", "top5") if "top1" in (row.get("metrics") or {}) else ("AP", "AP50"):
        flat[k] = round(row["metrics"][k], 4) if row.get("metrics") else ""
    pub = row.get("published") or {}
    flat["published_map50_95"] = pub.get("map50_95", "")
    return flat
