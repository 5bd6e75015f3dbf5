"""Non-maximum suppression on top of torchvision.ops (class-aware or agnostic, with max_det)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision.ops as tvops


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou: float,
    labels: torch.Tensor | None = None,
    max_det: int | None = None,
) -> torch.Tensor:
    """Indices of the boxes kept, by descending score. labels=None means class-agnostic."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    boxes, scores = boxes.float(), scores.float()
    if labels is None:
        keep = tvops.nms(boxes, scores, iou)
    else:
        keep = tvops.batched_nms(boxes, scores, labels, iou)
    return keep[:max_det] if max_det is not None else keep


def multiclass_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = 300,
    multi_label: bool = False,
    agnostic: bool = False,
    classes: Sequence[int] | None = None,
    max_nms: int = 30000,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Detections of one image from boxes [N, 4] (xyxy) and class confidences [N, C].

    multi_label: every (box, class) pair above conf is a candidate; otherwise only the best
    class of each box. At most max_nms candidates (the highest scores) enter NMS, and at most
    max_det detections come out. Returns (boxes [K, 4], scores [K], labels [K] int64).
    """
    rows, score, cls = multiclass_nms_indices(
        boxes, scores, conf, iou, max_det, multi_label, agnostic, classes, max_nms
    )
    return boxes[rows], score, cls


def multiclass_nms_indices(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = 300,
    multi_label: bool = False,
    agnostic: bool = False,
    classes: Sequence[int] | None = None,
    max_nms: int = 30000,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """multiclass_nms, returning (row of each detection in boxes [K] int64, scores, labels), so
    that per-box extras (mask coefficients) can follow the detections."""
    if multi_label and scores.shape[1] > 1:
        idx, cls = (scores > conf).nonzero(as_tuple=True)
        score = scores[idx, cls]
    else:
        score, cls = scores.max(1)
        idx = (score > conf).nonzero().squeeze(1)
        score, cls = score[idx], cls[idx]
    if classes is not None:
        keep = torch.isin(cls, torch.as_tensor(list(classes), device=cls.device))
        idx, score, cls = idx[keep], score[keep], cls[keep]
    if score.shape[0] > max_nms:
        top = score.topk(max_nms).indices
        idx, score, cls = idx[top], score[top], cls[top]
    keep = nms(boxes[idx], score, iou, None if agnostic else cls, max_det)
    return idx[keep], score[keep], cls[keep].long()
