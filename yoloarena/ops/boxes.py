"""Box formats and overlaps. Inside the toolkit a box is xyxy in absolute pixels.

Format names: ``xyxy`` (corners), ``cxcywh`` (centre and size), ``ltwh`` (COCO: top-left and
size). Converters accept torch tensors or numpy arrays of shape [..., 4] and return the same kind.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
import torchvision.ops as tvops

Boxes = TypeVar("Boxes", torch.Tensor, np.ndarray)


def _stack(parts: list, like: Boxes) -> Boxes:
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def xyxy_to_cxcywh(b: Boxes) -> Boxes:
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], b)


def cxcywh_to_xyxy(b: Boxes) -> Boxes:
    cx, cy, half_w, half_h = b[..., 0], b[..., 1], b[..., 2] / 2, b[..., 3] / 2
    return _stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], b)


def xyxy_to_ltwh(b: Boxes) -> Boxes:
    x1, y1 = b[..., 0], b[..., 1]
    return _stack([x1, y1, b[..., 2] - x1, b[..., 3] - y1], b)


def ltwh_to_xyxy(b: Boxes) -> Boxes:
    x1, y1 = b[..., 0], b[..., 1]
    return _stack([x1, y1, x1 + b[..., 2], y1 + b[..., 3]], b)


def clip_boxes(b: Boxes, shape_hw: tuple[int, int]) -> Boxes:
    """Clip xyxy boxes to an image of shape (h, w); returns a new array/tensor."""
    h, w = shape_hw
    if isinstance(b, torch.Tensor):
        out = b.clone()
        out[..., 0::2] = out[..., 0::2].clamp(0, w)
        out[..., 1::2] = out[..., 1::2].clamp(0, h)
        return out
    out = b.copy()
    out[..., 0::2] = out[..., 0::2].clip(0, w)
    out[..., 1::2] = out[..., 1::2].clip(0, h)
    return out


def box_area(b: torch.Tensor) -> torch.Tensor:
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU [N, M] of xyxy boxes."""
    return tvops.box_iou(a, b)


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise GIoU [N, M] of xyxy boxes, in [-1, 1]."""
    return tvops.generalized_box_iou(a, b)


def complete_box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pairwise CIoU [N, M] of xyxy boxes (IoU minus centre-distance and aspect penalties)."""
    return tvops.complete_box_iou(a, b, eps=eps)
