"""Instance polygons: area, clipping to the image, multi-part merging, rasterising to masks.

A polygon is a [K, 2] float array of (x, y) vertices, implicitly closed. An instance is one
polygon (as in YOLO-seg labels); COCO instances made of several parts are merged into one the
way the Ultralytics COCO converter does (zero-width bridges between the parts), so converted
labels agree with Ultralytics' own.
"""

from __future__ import annotations

import cv2
import numpy as np


def polygon_area(points: np.ndarray) -> float:
    """Absolute area (shoelace formula)."""
    if len(points) < 3:
        return 0.0
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polygon_box(points: np.ndarray) -> np.ndarray:
    """[4] x1, y1, x2, y2: the polygon's extent (zeros for an empty polygon)."""
    if not len(points):
        return np.zeros(4, np.float32)
    return np.concatenate((points.min(0), points.max(0))).astype(np.float32)


def rectangle(box: np.ndarray) -> np.ndarray:
    """The 4-corner polygon of an xyxy box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)


def clip_polygon(points: np.ndarray, w: float, h: float) -> np.ndarray:
    """The part of the polygon inside [0, w] x [0, h] (Sutherland-Hodgman against each side).

    Every vertex of the result lies in the image, and the result's extent is the extent of the
    polygon's visible part. A polygon entirely outside gives [0, 2].
    """
    out = np.asarray(points, np.float64)
    # each side: (axis, limit, keep the side where coordinate <= limit when sign is +1)
    for axis, limit, sign in ((0, 0.0, -1), (0, float(w), 1), (1, 0.0, -1), (1, float(h), 1)):
        if not len(out):
            break
        out = _clip_side(out, axis, limit, sign)
    return out.astype(np.float32).reshape(-1, 2)


def _clip_side(pts: np.ndarray, axis: int, limit: float, sign: int) -> np.ndarray:
    nxt = np.roll(pts, -1, axis=0)
    d_cur = sign * (pts[:, axis] - limit)  # <= 0 means inside
    d_nxt = sign * (nxt[:, axis] - limit)
    inside, nxt_inside = d_cur <= 0, d_nxt <= 0
    if inside.all():
        return pts
    crossing = inside != nxt_inside
    t = np.divide(d_cur, d_cur - d_nxt, out=np.zeros_like(d_cur), where=crossing)
    cut = pts + (nxt - pts) * t[:, None]
    cut[:, axis] = limit  # exact on the border
    # per edge (cur -> nxt): keep cur if inside, then the crossing point if the edge crosses
    keep_cur = np.where(inside[:, None], pts, np.nan)
    keep_cut = np.where(crossing[:, None], cut, np.nan)
    merged = np.stack((keep_cur, keep_cut), 1).reshape(-1, 2)
    return merged[~np.isnan(merged[:, 0])]


def merge_segments(parts: list[np.ndarray]) -> np.ndarray:
    """One polygon through several parts of an instance, as the Ultralytics COCO converter
    (`merge_multi_segment`) makes it, so that converted labels agree with theirs.

    Consecutive parts are linked at their closest pair of vertices. A forward pass walks the
    first part whole, then each middle part from its link with the previous part to its link with
    the next, then the last part whole; a return pass walks the rest of each middle part back to
    the start. As in the original, a middle part whose two links come in decreasing vertex order
    has its vertex order reversed while the link positions are not (this keeps every vertex, but
    its bridges can start from other vertices than the closest ones).
    """
    parts = [np.asarray(p, np.float64).reshape(-1, 2) for p in parts]
    if len(parts) == 1:
        return parts[0]
    links: list[list[int]] = [[] for _ in parts]
    for i in range(1, len(parts)):
        d = ((parts[i - 1][:, None] - parts[i][None]) ** 2).sum(-1)
        a, b = np.unravel_index(int(np.argmin(d)), d.shape)
        links[i - 1].append(int(a))
        links[i].append(int(b))
    last = len(parts) - 1
    loops, forward, back = [], [], []
    for i, (part, link) in enumerate(zip(parts, links, strict=True)):
        if len(link) == 2 and link[0] > link[1]:
            link, part = link[::-1], part[::-1]
        rolled = np.roll(part, -link[0], axis=0)
        loop = np.concatenate((rolled, rolled[:1]))
        loops.append(loop)
        forward.append(loop if i in (0, last) else loop[: link[1] - link[0] + 1])
    for i in range(last - 1, 0, -1):
        back.append(loops[i][abs(links[i][1] - links[i][0]) :])
    return np.concatenate(forward + back)


def mask_to_polygon(mask: np.ndarray) -> np.ndarray:
    """A binary mask's outline as one polygon (its outer contours, merged); [0, 2] if empty."""
    contours = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                cv2.CHAIN_APPROX_SIMPLE)[0]  # fmt: skip
    parts = [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3]
    if not parts:
        return np.zeros((0, 2), np.float32)
    return merge_segments(parts).astype(np.float32)


def polygon_mask(polygon: np.ndarray, shape_hw: tuple[int, int], ratio: int = 1) -> np.ndarray:
    """uint8 0/1 mask [h // ratio, w // ratio]: the polygon filled at full size (vertices cast to
    int), then resized (bilinear), as the official YOLOv5-seg loader makes its masks."""
    h, w = shape_hw
    mask = np.zeros((h, w), np.uint8)
    if len(polygon):
        cv2.fillPoly(mask, [np.asarray(polygon).astype(np.int32).reshape(-1, 2)], 1)
    if ratio != 1:
        mask = cv2.resize(mask, (w // ratio, h // ratio))
    return mask


def polygon_masks(
    polygons: list[np.ndarray], shape_hw: tuple[int, int], ratio: int = 1
) -> np.ndarray:
    """[N, h // ratio, w // ratio] uint8, one 0/1 mask per polygon."""
    h, w = shape_hw
    if not polygons:
        return np.zeros((0, h // ratio, w // ratio), np.uint8)
    return np.stack([polygon_mask(p, shape_hw, ratio) for p in polygons])


def overlap_mask(
    polygons: list[np.ndarray], shape_hw: tuple[int, int], ratio: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(one map [h // ratio, w // ratio], order): the instances sorted by mask area, largest
    first, are painted with values 1, 2, ... in that order, so a smaller instance wins where
    they overlap (the official overlap mode); order[k] is the instance painted with k + 1."""
    h, w = shape_hw
    masks = polygon_masks(polygons, shape_hw, ratio)
    dtype = np.int32 if len(polygons) > 255 else np.uint8
    out = np.zeros((h // ratio, w // ratio), dtype)
    if not len(masks):
        return out, np.zeros(0, np.int64)
    order = np.argsort(-masks.reshape(len(masks), -1).sum(1))  # the official (default) sort
    for value, k in enumerate(order, 1):
        out = np.where(masks[k] > 0, value, out).astype(dtype)
    return out, order.astype(np.int64)
