"""Test-time augmentation (``augment=True``): the batch at several scales, some passes mirrored,
all predictions merged before NMS.

The scheme is YOLOv5 v7.0's: three passes (scale 1; scale 0.83 mirrored left-right; scale 0.67).
A smaller pass is the batch resized bilinearly to ``int(side * scale)`` and padded on the right
and bottom with grey up to the next multiple of the largest stride. Each pass's boxes are divided
by its scale and mirrored back, then the coarsest level's rows of the full-scale pass (large
objects) and the finest level's rows of the smallest pass (small objects) are dropped, and the
rest is concatenated for NMS. A family supplies its grey in input units and how many rows each
head level contributes (`augmented_forward`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .base import Detector, HeadOutput

SCALES = (1.0, 0.83, 0.67)
FLIPS = (False, True, False)  # mirror left-right before the pass


def scale_input(x: torch.Tensor, ratio: float, stride: int, pad_value: float) -> torch.Tensor:
    """x [B, C, H, W] resized by ratio (bilinear), padded right/bottom to a stride multiple."""
    if ratio == 1.0:
        return x
    h, w = x.shape[-2:]
    size = (int(h * ratio), int(w * ratio))
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    ph, pw = (math.ceil(side * ratio / stride) * stride for side in (h, w))
    return F.pad(y, [0, pw - size[1], 0, ph - size[0]], value=pad_value)


def descale_boxes(boxes: torch.Tensor, ratio: float, mirrored: bool, width: int) -> torch.Tensor:
    """xyxy boxes of a scaled (and mirrored) pass -> pixels of the original input."""
    boxes = boxes / ratio
    if mirrored:
        x1, y1, x2, y2 = boxes.unbind(-1)
        boxes = torch.stack((width - x2, y1, width - x1, y2), -1)
    return boxes


def augmented_forward(
    model: Detector,
    images: torch.Tensor,
    level_rows: Callable[[list[torch.Tensor]], Sequence[int]],
    pad_value: float,
    scales: Sequence[float] = SCALES,
    flips: Sequence[bool] = FLIPS,
) -> HeadOutput:
    """A decoded HeadOutput of the merged passes (``levels`` is empty: no single raw map).

    level_rows(levels) gives the number of decoded rows of each head level, finest first.
    """
    from .base import HeadOutput

    if model.training:
        raise ValueError("test-time augmentation runs in eval mode (call model.eval() first)")
    width = images.shape[-1]
    stride = max(model.stride)
    boxes, scores, objectness = [], [], []
    for k, (ratio, mirrored) in enumerate(zip(scales, flips, strict=True)):
        x = scale_input(images.flip(3) if mirrored else images, ratio, stride, pad_value)
        out = model(x)
        rows = list(level_rows(out.levels))
        keep = slice(None)
        if k == 0 and len(scales) > 1:
            keep = slice(0, out.boxes.shape[1] - rows[-1])  # no large-object tail at full scale
        elif k == len(scales) - 1 and len(scales) > 1:
            keep = slice(rows[0], None)  # no small-object head at the smallest scale
        boxes.append(descale_boxes(out.boxes[:, keep], ratio, mirrored, width))
        scores.append(out.scores[:, keep])
        if out.objectness is not None:
            objectness.append(out.objectness[:, keep])
    return HeadOutput(
        levels=[],
        boxes=torch.cat(boxes, 1),
        scores=torch.cat(scores, 1),
        objectness=torch.cat(objectness, 1) if objectness else None,
    )
