"""Validation of segmentation models: box AP and mask AP under one protocol.

Each detection's mask is made at the original image size and stored next to its box as COCO
RLE; the predictions are then scored twice by faster-coco-eval, as COCO `bbox` and `segm`.

Which masks are scored: those of upstream v7.0 ``segment/val.py --save-json``, the path that makes
its published mask mAP: the prototype-resolution probabilities are upsampled to the network input,
cropped to the box there and thresholded (``process_mask_upsample``), then the letterbox padding
is cut off and the mask is resized to the original image (``scale_image``). COCO compares masks
with the ground-truth polygons at the original image size, so that is where they must be; the
upsample-first order gives sharper edges than cropping at the prototype resolution first (which
upstream uses only for its faster internal metric). Done per detection in a window around its
box (ops.mask_decode), not on whole images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..eval.coco import EvalResult
from ..models.base import Detector, EvalProtocol, HeadOutput
from ..ops.mask_decode import decode_masks, patch_rle
from ..structures import LetterboxInfo


def is_segmenting(model: Detector, dataset) -> bool:
    """Whether val scores masks: a segmentation model on a dataset with polygons."""
    return getattr(model, "task", "") == "segment" and dataset.has_segments


def segment_batch(
    model: Detector,
    out: HeadOutput,
    proto: EvalProtocol,
    infos: Sequence[LetterboxInfo],
    shapes: Sequence[Sequence[int]],
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[dict]]]:
    """Per image (boxes xyxy in original pixels, scores, labels, RLE of each mask)."""
    segs = model.postprocess_segments(out, proto.conf, proto.iou, proto.max_det, proto.multi_label)
    results = []
    for d, info, shape in zip(segs, infos, shapes, strict=True):
        shape = (int(shape[0]), int(shape[1]))
        patches = decode_masks(d.probabilities(), d.boxes, info, shape, retina=True)
        rles = [patch_rle(p, shape) for p in patches]
        boxes = model.transform.map_back(d.boxes.float().cpu(), info, shape)
        results.append((boxes, d.scores.float().cpu(), d.labels.cpu(), rles))
    return results


def fitness(metrics: dict[str, float]) -> float:
    """The number best.pt is chosen by: 0.1 AP50 + 0.9 AP of the boxes, plus the same of the
    masks when there are mask metrics (mask_AP50, mask_AP), as upstream's segmentation training."""
    value = 0.1 * metrics.get("AP50", 0.0) + 0.9 * metrics.get("AP", 0.0)
    return value + 0.1 * metrics.get("mask_AP50", 0.0) + 0.9 * metrics.get("mask_AP", 0.0)


def box_mask_table(box: EvalResult, mask: EvalResult) -> str:
    """The per-class table of both: instances, then P, R, AP50, AP of boxes and of masks."""
    head = (f"{'class':>20} {'instances':>9}  {'Box(P':>6} {'R':>6} {'AP50':>6} {'AP)':>6}  "
            f"{'Mask(P':>6} {'R':>6} {'AP50':>6} {'AP)':>6}")  # fmt: skip
    masks = {c["name"]: c for c in mask.per_class}
    total = sum(c["instances"] for c in box.per_class)
    rows = [head, f"{'all':>20} {total:>9}  " + _cells(box.precision, box.recall, box.stats)
            + "  " + _cells(mask.precision, mask.recall, mask.stats)]  # fmt: skip
    for c in box.per_class:
        m = masks.get(c["name"], {"precision": 0.0, "recall": 0.0, "AP50": 0.0, "AP": 0.0})
        rows.append(f"{c['name']:>20} {c['instances']:>9}  "
                    + _cells(c["precision"], c["recall"], c)
                    + "  " + _cells(m["precision"], m["recall"], m))  # fmt: skip
    return "\n".join(rows)


def _cells(p: float, r: float, stats: dict) -> str:
    return f"{p:6.3f} {r:6.3f} {stats['AP50']:6.3f} {stats['AP']:6.3f}"
