"""The parity check of segmentation exports with NMS inside: the same detections as PyTorch,
and the same mask coefficients and prototypes for them."""

from __future__ import annotations

import torch

from ..models.segmenter import SegDetections
from .check import Parity, _order, compare_detections, compare_raw


def compare_segments(ref: list[SegDetections], got: list[SegDetections], half: bool) -> Parity:
    """compare_detections on the boxes, then each matched detection's coefficients and the
    prototypes within the raw outputs' tolerance."""
    parity = compare_detections([(d.boxes, d.scores, d.labels) for d in ref],
                                [(d.boxes, d.scores, d.labels) for d in got], half)  # fmt: skip
    if not parity.ok:
        return parity
    coef_r, coef_g = [], []
    for r, g in zip(ref, got, strict=True):
        coef_r.append(r.coefficients[_order(r.boxes, r.scores, r.labels)].float().cpu())
        coef_g.append(g.coefficients[_order(g.boxes, g.scores, g.labels)].float().cpu())
    protos = (torch.stack([d.prototypes for d in ref]), torch.stack([d.prototypes for d in got]))
    raw = compare_raw([torch.cat(coef_r), protos[0]], [torch.cat(coef_g), protos[1]],
                      ["det_coefficients", "prototypes"], half)  # fmt: skip
    return Parity({**parity.max_abs, **raw.max_abs}, raw.allowed, raw.ok)
