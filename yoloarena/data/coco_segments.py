"""COCO `segmentation` fields -> one polygon per instance (float32 pixels), with problems.

Polygons (a list of parts, each a flat x, y list) are checked part by part (odd number of
coordinates, fewer than 3 points, far outside the image, zero area); the good parts are merged
into one polygon (data/polygons.merge_segments). A non-crowd RLE mask is outlined. Crowd
annotations get no polygon: they are ignored regions, as in COCO.
"""

from __future__ import annotations

import math

import numpy as np

from .polygons import mask_to_polygon, merge_segments, rectangle
from .report import Problem
from .yolo_txt import CLIP_TOLERANCE, FLOAT_NOISE, polygon_problem


def has_segmentation(annotations: list[dict]) -> bool:
    """Whether any non-crowd annotation carries a segmentation (a segmentation dataset)."""
    return any(a.get("segmentation") and not a.get("iscrowd", 0) for a in annotations)


def coco_polygon(
    ann: dict, w: int, h: int, file: str, problems: list[Problem], box: np.ndarray
) -> np.ndarray | None:
    """The instance's polygon [K, 2] float32 in pixels, None for crowd. In a segmentation
    dataset an annotation without a usable segmentation is reported and gets its box."""
    if ann.get("iscrowd", 0):
        return None
    where = f"annotation {ann.get('id')}"
    seg = ann.get("segmentation")
    poly = None
    if isinstance(seg, list) and seg:
        parts = [_check_part(p, w, h, f"{where} part {k}", file, problems)
                 for k, p in enumerate(seg)]  # fmt: skip
        parts = [p for p in parts if p is not None]
        poly = merge_segments(parts).astype(np.float32) if parts else None
    elif isinstance(seg, dict):
        poly = _rle_polygon(seg, w, h, where, file, problems)
    elif seg:
        problems.append(Problem(file, "seg.bad_segmentation", f"{where}: {type(seg).__name__}"))
    if poly is None:
        problems.append(Problem(file, "seg.box_only", where))
        return rectangle(box)
    return poly


def _check_part(part, w: int, h: int, where: str, file: str, problems: list[Problem]):
    def fail(kind: str, detail: str = ""):
        problems.append(Problem(file, kind, f"{where}{': ' + detail if detail else ''}"))

    try:
        values = [float(v) for v in part]
    except (TypeError, ValueError):
        return fail("label.non_numeric")
    if not all(math.isfinite(v) for v in values):
        return fail("label.non_finite")
    if len(values) % 2:
        return fail("seg.odd_coordinates", f"{len(values)} coordinates")
    xy = np.array(values, np.float64).reshape(-1, 2)
    lo, hi = xy.min(0) / [w, h], xy.max(0) / [w, h]
    out = max(-lo.min(), (hi - 1).max()) if len(xy) else 0.0
    if out > CLIP_TOLERANCE:
        return fail("label.out_of_bounds", f"{out:.3f} of the polygon outside")
    if out > FLOAT_NOISE:
        problems.append(Problem(file, "label.clipped", f"{where}: by {out:.4f}"))
        xy = xy.clip(0, [w, h])
    bad = polygon_problem(xy, zero_area=0.0)
    return xy if bad is None else fail(*bad)


def _rle_polygon(seg: dict, w: int, h: int, where: str, file: str, problems: list[Problem]):
    from faster_coco_eval.core import mask as mask_utils

    try:
        rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else seg
        mask = mask_utils.decode(rle)
    except Exception as e:  # malformed counts or size
        problems.append(Problem(file, "seg.bad_segmentation", f"{where}: RLE ({e})"[:120]))
        return None
    if mask.shape[:2] != (h, w):
        detail = f"{where}: RLE of size {mask.shape[1]}x{mask.shape[0]}, image {w}x{h}"
        problems.append(Problem(file, "seg.bad_segmentation", detail))
        return None
    poly = mask_to_polygon(mask)
    return poly if len(poly) >= 3 else None
