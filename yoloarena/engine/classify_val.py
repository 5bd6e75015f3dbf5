"""Validation of a Classifier on a classification dataset: top-1/top-5, per-class accuracy,
confusion matrix; and `yoloarena val` for classifiers (runs/val/<name>/ with results.json and
confusion_matrix.png).

Images are decoded and preprocessed (the model's own eval transform) in background threads while
the model runs; under DDP every rank predicts a share of the batches and rank 0 scores them all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import save_yaml, to_dict
from ..data.classify import ClassifyDataset, load_classify
from ..errors import YoloArenaError
from ..eval.classify import ClassifyMetrics, plot_classify_confusion
from ..models.base import Classifier, as_module
from ..writes import write_json
from .ddp import DistInfo, broadcast, gather
from .runs import run_dir
from .validator import _prefetch

LOGGER = logging.getLogger("yoloarena")


@dataclass
class ClassifyValResult:
    metrics: ClassifyMetrics
    protocol: dict
    loss: float | None = None  # mean cross-entropy (None for exported files: probabilities only)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    images: int = 0

    def to_dict(self) -> dict:
        return {**self.metrics.to_dict(), "loss": self.loss, "protocol": self.protocol,
                "timings_s": {k: round(v, 3) for k, v in self.timings.items()}}  # fmt: skip


def _load_batch(dataset: ClassifyDataset, idx: np.ndarray, model: Classifier, imgsz: int):
    pixels = [model.transform.resize_image(dataset.load_image(i), None, imgsz)[0]
              for i in idx.tolist()]  # fmt: skip
    return model.transform.stack(pixels), torch.from_numpy(dataset.labels[idx])


@torch.inference_mode()
def validate_classifier(
    model: Classifier,
    dataset: ClassifyDataset,
    imgsz: int = 224,
    batch: int = 64,
    half: bool = False,
    workers: int = 2,
    dist: DistInfo | None = None,
) -> ClassifyValResult:
    """Classify every image of dataset and score top-1 / top-5 (upstream's classify/val.py)."""
    model = as_module(model)
    if model.num_classes != dataset.num_classes:
        raise YoloArenaError(
            f"the model has {model.num_classes} classes but the dataset has {dataset.num_classes}"
        )
    model.eval()
    device = model.device
    k = min(5, model.num_classes)
    order = np.arange(len(dataset))
    jobs = [(order[i : i + batch],) for i in range(0, len(order), batch)]
    if dist is not None:
        jobs = jobs[dist.rank :: dist.world]
    tops, targets, loss_sum = [], [], 0.0
    t = dict.fromkeys(("data", "forward"), 0.0)
    tick = time.perf_counter()
    for x, y in _prefetch(jobs, lambda i: _load_batch(dataset, i, model, imgsz), workers):
        x = model.transform.normalize(x.to(device))
        t0 = time.perf_counter()
        t["data"] += t0 - tick
        with torch.autocast(device.type, enabled=half and device.type == "cuda"):
            out = model(x)
        if not model.outputs_probabilities:
            loss_sum += float(F.cross_entropy(out.float(), y.to(device), reduction="sum"))
        tops.append(out.float().topk(k, 1).indices.cpu())
        targets.append(y)
        tick = time.perf_counter()
        t["forward"] += tick - t0
    top = torch.cat(tops) if tops else torch.zeros(0, k, dtype=torch.long)
    target = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
    if dist is not None:
        top = torch.cat(gather(top, dist))
        target = torch.cat(gather(target, dist))
        loss_sum = sum(gather(loss_sum, dist))
    metrics = ClassifyMetrics.from_topk(top, target, dataset.names) if dist is None or dist.main \
        else None  # fmt: skip
    metrics = broadcast(metrics, dist)
    n = int(target.numel())
    loss = None if model.outputs_probabilities or not n else loss_sum / n
    protocol = {"imgsz": imgsz, "transform": model.transform.to_meta(), "topk": k}
    return ClassifyValResult(metrics, protocol, loss, t, n)


def run_val_classify(cfg, model: Classifier) -> tuple[Path, ClassifyValResult]:
    """`yoloarena val` for a classifier: validate on cfg.data's split, write the run folder."""
    from .predictor import check_imgsz

    dataset = load_classify(cfg.data, cfg.split)
    LOGGER.info(dataset.report.summary().splitlines()[0])
    for p in dataset.report.problems[:20]:
        LOGGER.warning("%s", p)
    imgsz = check_imgsz(cfg.imgsz or model.imgsz, max(model.stride))
    result = validate_classifier(model, dataset, imgsz, cfg.batch, cfg.half, cfg.workers)
    out = run_dir(cfg.project, "val", cfg.name, cfg.exist_ok)
    save_yaml(cfg, out / "args.yaml")
    summary = {"model": cfg.model, "data": cfg.data, "split": cfg.split, **result.to_dict(),
               "args": to_dict(cfg)}  # fmt: skip
    write_json(out / "results.json", summary, indent=1)
    if cfg.plots:
        plot_classify_confusion(result.metrics, out / "confusion_matrix.png")
    m = result.metrics
    if cfg.verbose:
        LOGGER.info("%s", m.table())
    LOGGER.info("top1 %.4f  top5 %.4f  (%d images)", m.top1, m.top5, m.images)
    t, n = result.timings, max(result.images, 1)
    LOGGER.info("Speed per image: %.1fms data (waiting), %.1fms forward",
                t["data"] * 1e3 / n, t["forward"] * 1e3 / n)  # fmt: skip
    LOGGER.info("results saved to %s", out)
    return out, result
