"""Training augmentations that move instance polygons with the image (segmentation datasets).

Samples are (BGR image, labels [n, 5] (class, x1, y1, x2, y2) pixels, polygons: list of n
[K, 2] float32 pixel arrays). After every geometric step the polygons are clipped to the image
(exactly, data/polygons.clip_polygon) and each box is recomputed as its polygon's extent, so a
box always equals the bounds of its polygon and no vertex lies outside the image.
"""

from __future__ import annotations

import numpy as np

from . import augment as A
from .polygons import clip_polygon, polygon_box

Polygons = list[np.ndarray]


def move_polygons(polygons: Polygons, sx: float, sy: float, dx: float = 0, dy: float = 0):
    """x * sx + dx, y * sy + dy for every vertex."""
    return [(p * np.array([sx, sy]) + np.array([dx, dy])).astype(np.float32) for p in polygons]


def clip_to_image(
    labels: np.ndarray, polygons: Polygons, w: float, h: float
) -> tuple[np.ndarray, Polygons]:
    """Polygons clipped to [0, w] x [0, h], boxes set to their extents; instances with nothing
    left inside are dropped."""
    clipped = [clip_polygon(p, w, h) for p in polygons]
    keep = [i for i, p in enumerate(clipped) if len(p) >= 3]
    out = labels[keep].copy()
    if keep:
        out[:, 1:5] = np.stack([polygon_box(clipped[i]) for i in keep])
    return out.astype(np.float32).reshape(-1, 5), [clipped[i] for i in keep]


def mosaic4_seg(parts: list[tuple[np.ndarray, np.ndarray, Polygons]], s: int, rng):
    """mosaic4 with polygons: four images on a 2s x 2s canvas, polygons clipped to it."""
    canvas, shifts = A.mosaic_canvas([img for img, _, _ in parts], s, rng)
    labels, polygons = [], []
    for (_, lab, polys), (dx, dy) in zip(parts, shifts, strict=True):
        labels.append(A.resize_labels(lab, 1.0, 1.0, dx, dy))
        polygons += move_polygons(polys, 1.0, 1.0, dx, dy)
    rows = np.concatenate(labels) if labels else np.zeros((0, 5), np.float32)
    return (canvas, *clip_to_image(rows, polygons, 2 * s, 2 * s))


def random_perspective_seg(
    img: np.ndarray, labels: np.ndarray, polygons: Polygons, rng: np.random.Generator,
    out_hw: tuple[int, int], degrees: float = 0.0, translate: float = 0.1, scale: float = 0.5,
    shear: float = 0.0, perspective: float = 0.0, scale_range: list[float] | None = None,
    aspect_max: float = 100.0,
) -> tuple[np.ndarray, np.ndarray, Polygons]:  # fmt: skip
    """random_perspective moving the polygons (every vertex through the matrix); boxes are the
    extents of the warped, clipped polygons. As upstream with segments, an instance survives if
    its box keeps > 2 px sides, > 1% of its (scaled) area and an aspect ratio < aspect_max."""
    m, s = A.affine_matrix(img.shape[:2], out_hw, rng, degrees, translate, scale, shear,
                           perspective, scale_range)  # fmt: skip
    img = A.warp_image(img, m, out_hw, bool(perspective))
    if not len(labels):
        return img, labels, []
    warped = []
    for poly in polygons:
        xy = np.concatenate((poly, np.ones((len(poly), 1))), 1) @ m.T
        warped.append((xy[:, :2] / xy[:, 2:3]) if perspective else xy[:, :2])
    h, w = out_hw
    clipped = [clip_polygon(p, w, h) for p in warped]
    boxes = np.stack([polygon_box(p) for p in clipped])
    keep = A.box_candidates(labels[:, 1:5] * s, boxes, ar_thr=aspect_max, area_thr=0.01)
    keep &= np.array([len(p) >= 3 for p in clipped])
    out = np.concatenate((labels[keep, :1], boxes[keep]), 1).astype(np.float32)
    return img, out, [clipped[i] for i in np.flatnonzero(keep)]


def flip_seg(
    img: np.ndarray, labels: np.ndarray, polygons: Polygons, horizontal: bool
) -> tuple[np.ndarray, np.ndarray, Polygons]:
    h, w = img.shape[:2]
    img, labels = A.flip(img, labels, horizontal)
    if horizontal:
        polygons = [np.stack((w - p[:, 0], p[:, 1]), 1).astype(np.float32) for p in polygons]
    else:
        polygons = [np.stack((p[:, 0], h - p[:, 1]), 1).astype(np.float32) for p in polygons]
    return img, labels, polygons


def mixup_seg(a: tuple, b: tuple, rng: np.random.Generator):
    """Blend two samples (r ~ Beta(32, 32)); both label and polygon sets are kept."""
    img, labels = A.mixup((a[0], a[1]), (b[0], b[1]), rng)
    return img, labels, [*a[2], *b[2]]
