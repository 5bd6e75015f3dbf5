"""Training augmentations on (BGR image, labels) pairs; labels are [n, 5] float32 rows
(class, x1, y1, x2, y2) in pixels of the image they go with. Every random draw comes from the
numpy Generator passed in, so a sample is a pure function of its seed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FILL = 114


def resize_labels(
    labels: np.ndarray, sx: float, sy: float, dx: float = 0, dy: float = 0
) -> np.ndarray:
    out = labels.copy()
    out[:, [1, 3]] = out[:, [1, 3]] * sx + dx
    out[:, [2, 4]] = out[:, [2, 4]] * sy + dy
    return out


def clip_labels(labels: np.ndarray, w: float, h: float) -> np.ndarray:
    out = labels.copy()
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, w)
    out[:, [2, 4]] = out[:, [2, 4]].clip(0, h)
    return out


def mosaic4(parts: list[tuple[np.ndarray, np.ndarray]], s: int, rng: np.random.Generator):
    """Four images around a random centre of a 2s x 2s canvas (grey); labels clipped to it."""
    canvas, shifts = mosaic_canvas([img for img, _ in parts], s, rng)
    out = [
        resize_labels(labels, 1.0, 1.0, dx, dy)
        for (_, labels), (dx, dy) in zip(parts, shifts, strict=True)
    ]
    labels = np.concatenate(out) if out else np.zeros((0, 5), np.float32)
    return canvas, clip_labels(labels, 2 * s, 2 * s)


def mosaic_canvas(
    images: list[np.ndarray], s: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The 2s x 2s mosaic of four images and the (dx, dy) shift of each image's pixels."""
    canvas = np.full((2 * s, 2 * s, 3), FILL, dtype=np.uint8)
    yc, xc = (int(rng.uniform(s / 2, 3 * s / 2)) for _ in range(2))
    shifts = []
    for k, img in enumerate(images):
        h, w = img.shape[:2]
        if k == 0:  # top left
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b = w - (x2a - x1a), h - (y2a - y1a)
        elif k == 1:  # top right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * s), yc
            x1b, y1b = 0, h - (y2a - y1a)
        elif k == 2:  # bottom left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * s, yc + h)
            x1b, y1b = w - (x2a - x1a), 0
        else:  # bottom right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * s), min(2 * s, yc + h)
            x1b, y1b = 0, 0
        x2b, y2b = x1b + (x2a - x1a), y1b + (y2a - y1a)
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
        shifts.append((x1a - x1b, y1a - y1b))
    return canvas, shifts


def affine_matrix(
    in_hw: tuple[int, int], out_hw: tuple[int, int], rng: np.random.Generator,
    degrees: float, translate: float, scale: float, shear: float, perspective: float,
    scale_range: list[float] | None = None,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """3x3 matrix: centre -> perspective -> rotate/scale -> shear -> translate; and the scale."""
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -in_hw[1] / 2, -in_hw[0] / 2
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = rng.uniform(-perspective, perspective, 2)
    rot = np.eye(3)
    lo, hi = scale_range if scale_range else (1 - scale, 1 + scale)
    s = rng.uniform(lo, hi)
    rot[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=rng.uniform(-degrees, degrees), scale=s)
    sh = np.eye(3)
    sh[0, 1], sh[1, 0] = (math.tan(rng.uniform(-shear, shear) * math.pi / 180) for _ in range(2))
    tr = np.eye(3)
    tr[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_hw[1]
    tr[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_hw[0]
    return tr @ sh @ rot @ persp @ centre, s


def random_perspective(
    img: np.ndarray, labels: np.ndarray, rng: np.random.Generator, out_hw: tuple[int, int],
    degrees: float = 0.0, translate: float = 0.1, scale: float = 0.5, shear: float = 0.0,
    perspective: float = 0.0, scale_range: list[float] | None = None, aspect_max: float = 100.0,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Warp img to out_hw and move the boxes (through their corners); weak boxes are dropped."""
    m, s = affine_matrix(img.shape[:2], out_hw, rng, degrees, translate, scale, shear, perspective,
                         scale_range)  # fmt: skip
    img = warp_image(img, m, out_hw, bool(perspective))
    if not len(labels):
        return img, labels
    n = len(labels)
    corners = np.ones((n * 4, 3))
    corners[:, :2] = labels[:, [1, 2, 3, 4, 1, 4, 3, 2]].reshape(n * 4, 2)
    xy = corners @ m.T
    xy = (xy[:, :2] / xy[:, 2:3] if perspective else xy[:, :2]).reshape(n, 8)
    x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
    boxes = np.stack((x.min(1), y.min(1), x.max(1), y.max(1)), 1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, out_hw[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, out_hw[0])
    keep = box_candidates(labels[:, 1:5] * s, boxes, ar_thr=aspect_max)
    out = np.concatenate((labels[keep, :1], boxes[keep]), 1).astype(np.float32)
    return img, out


def warp_image(img: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], perspective: bool):
    """img warped by the 3x3 matrix m into out_hw (h, w), grey border."""
    size = (out_hw[1], out_hw[0])
    if perspective:
        return cv2.warpPerspective(img, m, dsize=size, borderValue=(FILL,) * 3)
    return cv2.warpAffine(img, m[:2], dsize=size, borderValue=(FILL,) * 3)


def box_candidates(
    before: np.ndarray, after: np.ndarray, wh_thr: float = 2, ar_thr: float = 100,
    area_thr: float = 0.1, eps: float = 1e-16,
) -> np.ndarray:  # fmt: skip
    """Boxes that stay useful: > wh_thr px wide and high, > area_thr of their (scaled) area,
    aspect ratio < ar_thr."""
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def mixup(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
):
    """Blend two images with r ~ Beta(32, 32) and keep both label sets."""
    r = rng.beta(32.0, 32.0)
    img = (a[0].astype(np.float32) * r + b[0].astype(np.float32) * (1 - r)).astype(np.uint8)
    return img, np.concatenate((a[1], b[1]))


def stretch(img: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize to size x size ignoring the aspect ratio (bilinear), boxes scaled per axis."""
    h, w = img.shape[:2]
    out = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return out, resize_labels(labels, size / w, size / h)


def mixup_damo(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
):
    """DAMO-YOLO mixup: image b letterboxed (top-left) into a's size, rescaled by U(0.5, 1.5),
    flipped with p 0.5, cropped back at a random place, blended 50/50; boxes clipped and joined."""
    img, labels = a
    other, other_labels = b
    s_h, s_w = img.shape[:2]
    r = min(s_h / other.shape[0], s_w / other.shape[1]) * rng.uniform(0.5, 1.5)
    resized = cv2.resize(other, (max(int(other.shape[1] * r), 1), max(int(other.shape[0] * r), 1)))
    moved = resize_labels(
        other_labels, resized.shape[1] / other.shape[1], resized.shape[0] / other.shape[0]
    )
    if rng.random() < 0.5:
        resized, moved = flip(resized, moved, horizontal=True)
    canvas = np.zeros((max(resized.shape[0], s_h), max(resized.shape[1], s_w), 3), np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    y0 = int(rng.integers(0, canvas.shape[0] - s_h + 1))
    x0 = int(rng.integers(0, canvas.shape[1] - s_w + 1))
    crop = canvas[y0 : y0 + s_h, x0 : x0 + s_w]
    moved = clip_labels(resize_labels(moved, 1.0, 1.0, -x0, -y0), s_w, s_h)
    moved = moved[(moved[:, 3] > moved[:, 1]) & (moved[:, 4] > moved[:, 2])]
    blended = (img.astype(np.float32) * 0.5 + crop.astype(np.float32) * 0.5).astype(np.uint8)
    return blended, np.concatenate((labels, moved)).astype(np.float32)


def augment_hsv(
    img: np.ndarray, rng: np.random.Generator, hgain: float, sgain: float, vgain: float
) -> np.ndarray:
    """Random gains on hue (mod 180), saturation and value (clipped), through lookup tables."""
    if not (hgain or sgain or vgain):
        return img
    r = rng.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_hue = ((x * r[0]) % 180).astype(np.uint8)
    lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def flip(img: np.ndarray, labels: np.ndarray, horizontal: bool) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    out = labels.copy()
    if horizontal:
        img = np.ascontiguousarray(img[:, ::-1])
        out[:, [1, 3]] = w - labels[:, [3, 1]]
    else:
        img = np.ascontiguousarray(img[::-1])
        out[:, [2, 4]] = h - labels[:, [4, 2]]
    return img, out
