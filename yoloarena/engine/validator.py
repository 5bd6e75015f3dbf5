"""Validation of any Detector on a DetectionDataset, under one protocol, scored by COCO eval.

Images are decoded and letterboxed in background threads while the model runs. With the
letterbox rule the batches are rectangular (sorted by aspect ratio, padded to a stride multiple
plus pad), as the official YOLOv5 v7.0 val does; with the stretch rule every image is resized to
imgsz x imgsz.

A segmentation model on a dataset with polygons is also scored on its masks (COCO `segm`,
see engine/seg_val.py): ValResult.mask_metrics next to the box metrics.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import threads
from ..allocator import keep_freed_memory
from ..data.dataset import DetectionDataset
from ..errors import YoloArenaError
from ..eval.coco import EvalResult, evaluate_coco
from ..eval.confusion import ConfusionMatrix
from ..models.base import Detector, EvalProtocol, as_module
from ..ops.letterbox import rect_batches
from ..structures import LetterboxInfo
from .backends import follow_policy
from .ddp import DistInfo, broadcast, gather
from .seg_val import is_segmenting, segment_batch

LOGGER = logging.getLogger("yoloarena")


@dataclass
class ValResult:
    metrics: EvalResult
    predictions: list[dict]  # COCO result dicts (dataset category ids)
    confusion: ConfusionMatrix
    protocol: dict
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    images: int = 0
    mask_metrics: EvalResult | None = None  # segmentation: COCO segm of the masks

    def to_dict(self) -> dict:
        mask = {"mask": self.mask_metrics.to_dict()} if self.mask_metrics is not None else {}
        return {
            **self.metrics.to_dict(),
            **mask,
            "protocol": self.protocol,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "images": self.images,
            "predictions": len(self.predictions),
        }


def _batches(
    dataset: DetectionDataset, model: Detector, imgsz: int, batch: int, proto: EvalProtocol
):
    if model.transform.resize == "letterbox" and proto.rect:
        return rect_batches(dataset.shapes, batch, imgsz, max(model.stride), proto.pad)
    order = np.arange(len(dataset))
    square = (imgsz, imgsz)
    return [(order[i : i + batch], square) for i in range(0, len(order), batch)]


def _load_batch(
    dataset: DetectionDataset, idx: np.ndarray, shape: tuple[int, int], model: Detector, imgsz: int
) -> tuple[torch.Tensor, list[LetterboxInfo], list[int]]:
    """A uint8 batch in the model's val preprocessing (decoded and resized in a worker thread)."""
    done = [model.transform.resize_image(dataset.load_image(i), shape, imgsz, "val")
            for i in idx.tolist()]  # fmt: skip
    x = model.transform.stack([d[0] for d in done])
    return x, [d[1] for d in done], idx.tolist()


def _prefetch(jobs: list, load, workers: int) -> Iterator:
    """load(*job) for each job, computed ahead in threads, yielded in order."""
    if workers <= 0:
        yield from (load(*job) for job in jobs)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = [pool.submit(load, *job) for job in jobs[: workers + 1]]
        for k in range(len(jobs)):
            if k + workers + 1 < len(jobs):
                pending.append(pool.submit(load, *jobs[k + workers + 1]))
            yield pending[k].result()
            pending[k] = None


@torch.inference_mode()
def validate(
    model: Detector,
    dataset: DetectionDataset,
    imgsz: int = 640,
    batch: int = 32,
    protocol: EvalProtocol | None = None,
    half: bool = False,
    workers: int = 2,
    dist: DistInfo | None = None,
    augment: bool = False,
    records: bool = False,
) -> ValResult:
    """Predict every image of dataset under protocol and score the predictions with COCO eval.
    augment=True: test-time augmentation (the model's forward_augment). records=True: the metrics
    also keep their per-image records (`.records`, for eval.bootstrap).

    Under DDP every rank predicts a share of the batches; rank 0 scores all predictions and
    every rank gets the metrics.
    """
    model = as_module(model)
    proto = protocol or model.eval_protocol
    if model.num_classes != dataset.num_classes:
        raise YoloArenaError(
            f"the model has {model.num_classes} classes but the dataset has {dataset.num_classes}"
        )
    model.eval()
    confusion = ConfusionMatrix(dataset.num_classes)
    preds: list[dict] = []
    t = dict.fromkeys(("data", "forward", "nms"), 0.0)
    segment = is_segmenting(model, dataset)
    jobs = _batches(dataset, model, imgsz, batch, proto)
    if dist is not None:
        jobs = jobs[dist.rank :: dist.world]
    if model.device.type == "cpu":
        keep_freed_memory()  # batched CPU forwards reuse their activation memory
    # one process: threads follow the other load (DDP ranks would count each other as load)
    with threads.scope() if dist is None else contextlib.nullcontext():
        run = _prefetch(jobs, lambda i, s: _load_batch(dataset, i, s, model, imgsz), workers)
        watch = threads.Watch() if dist is None else None
        use_half = half and model.device.type == "cuda"
        _predict_all(model, run, dataset, proto, use_half, augment, segment, preds, confusion, t,
                     watch)  # fmt: skip
    if dist is not None:
        preds = [p for part in gather(preds, dist) for p in part]
        confusion.matrix = sum(gather(confusion.matrix, dist))
    t0 = time.perf_counter()
    metrics = mask_metrics = None
    if dist is None or dist.main:
        gt, ids = dataset.to_coco(), dataset.image_ids.tolist()
        metrics = evaluate_coco(gt, preds, ids, records=records)
        if segment:
            mask_metrics = evaluate_coco(gt, preds, ids, iou_type="segm", records=records)
    metrics, mask_metrics = broadcast((metrics, mask_metrics), dist)
    t["scoring"] = time.perf_counter() - t0
    protocol_used = vars(proto) | {"imgsz": imgsz, "augment": augment}
    return ValResult(metrics, preds, confusion, protocol_used, t, len(dataset), mask_metrics)


def _predict_all(model, batches, dataset, proto, half, augment, segment, preds, confusion, t,
                 watch) -> None:  # fmt: skip
    """Forward, NMS and COCO dicts of every prefetched batch (t: seconds per stage, summed);
    segment: also the masks (their RLE goes with each result)."""
    device = model.device
    tick = time.perf_counter()
    for x, infos, idx in batches:
        x = model.transform.normalize(x.to(device))
        t0 = time.perf_counter()
        t["data"] += t0 - tick
        with torch.autocast(device.type, enabled=half):
            out = model.forward_augment(x) if augment else model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()
        if segment:  # boxes already in original pixels, with the RLE of each mask
            dets = segment_batch(model, out, proto, infos, [dataset.shapes[i] for i in idx])
        else:
            dets = model.postprocess(out, proto.conf, proto.iou, proto.max_det, proto.multi_label)
        for i, info, (boxes, scores, labels, *rles) in zip(idx, infos, dets, strict=True):
            if not segment:
                shape = tuple(dataset.shapes[i])
                boxes = model.transform.map_back(boxes.float().cpu(), info, shape)
            _collect(preds, dataset, i, boxes, scores.cpu(), labels.cpu(), confusion, *rles)
        if watch is not None:
            watch.check()
            follow_policy(model, watch)
        tick = time.perf_counter()
        t["nms"] += tick - t1
        t["forward"] += t1 - t0


def _collect(preds, dataset, i, boxes, scores, labels, confusion: ConfusionMatrix, rles=None):
    """COCO result dicts of one image (with its masks' RLE as segmentation when given)."""
    image_id, cat_ids = int(dataset.image_ids[i]), dataset.category_ids
    start = len(preds)
    for (x1, y1, x2, y2), s, c in zip(
        boxes.tolist(), scores.tolist(), labels.tolist(), strict=True
    ):
        preds.append({
            "image_id": image_id,
            "category_id": cat_ids[c],
            "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
            "score": round(s, 5),
        })  # fmt: skip
    if rles is not None:
        for pred, rle in zip(preds[start:], rles, strict=True):
            pred["segmentation"] = rle
    confusion.update(boxes.numpy(), scores.numpy(), labels.numpy(), dataset.targets(i))
