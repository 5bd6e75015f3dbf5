"""A deterministic synthetic detection dataset: coloured shapes on cluttered backgrounds.

Classes are shapes (circle, square, triangle, star, ring, cross, ...); colours, sizes, positions,
overlap and background clutter (gradients, lines, dots, shape outlines that are not objects) vary.
Written in the Ultralytics layout (images/<split>/*.jpg, labels/<split>/*.txt, data.yaml), so it is
the built-in default data of `yoloarena compare` and the training tests. With task="segment" the
shapes are filled from polygons and the labels are those polygons (YOLO-seg rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from ..writes import write_image, write_text
from .polygons import clip_polygon, polygon_box
from .yolo_txt import format_polygons

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross", "diamond", "hexagon")


@dataclass(frozen=True)
class SynthSpec:
    n_train: int = 300
    n_val: int = 60
    imgsz: int = 320
    classes: int = 4
    min_objects: int = 1
    max_objects: int = 5
    min_size: float = 0.08  # object size as a fraction of the image side
    max_size: float = 0.35
    seed: int = 0
    task: str = "detect"  # "segment": shapes drawn from polygons, labels are those polygons


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if kind == "star":
        radii = [r if i % 2 == 0 else r * 0.45 for i in range(10)]
        angles = [angle + i * math.pi / 5 for i in range(10)]
    else:
        n = {"triangle": 3, "square": 4, "diamond": 4, "hexagon": 6}[kind]
        offset = math.pi / 4 if kind == "square" else 0.0
        radii = [r] * n
        angles = [angle + offset + i * 2 * math.pi / n for i in range(n)]
    pts = [(cx + q * math.cos(a), cy + q * math.sin(a)) for q, a in zip(radii, angles, strict=True)]
    return np.array(pts, dtype=np.float64)


def draw_shape(img: np.ndarray, kind: str, cx: float, cy: float, r: float, color, rng) -> tuple:
    """Draw one filled shape; returns its tight box (x1, y1, x2, y2) in pixels."""
    h, w = img.shape[:2]
    if kind in ("circle", "ring"):
        thickness = -1 if kind == "circle" else max(int(r * 0.35), 2)
        cv2.circle(img, (round(cx), round(cy)), round(r), color, thickness, cv2.LINE_AA)
        box = (cx - r, cy - r, cx + r, cy + r)
    elif kind == "cross":
        t = r * 0.35
        cv2.rectangle(
            img, (round(cx - r), round(cy - t)), (round(cx + r), round(cy + t)), color, -1
        )
        cv2.rectangle(
            img, (round(cx - t), round(cy - r)), (round(cx + t), round(cy + r)), color, -1
        )
        box = (cx - r, cy - r, cx + r, cy + r)
    else:
        angle = 0.0 if kind in ("square", "diamond") else float(rng.uniform(0, 2 * math.pi))
        pts = _polygon(kind, cx, cy, r, angle)
        cv2.fillPoly(img, [np.round(pts).astype(np.int32)], color, cv2.LINE_AA)
        box = (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
    x1, y1, x2, y2 = box
    return (max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h)))


def shape_polygon(kind: str, cx: float, cy: float, r: float, rng) -> np.ndarray:
    """The outline of a shape as one polygon [K, 2] (pixels): circles as 48-gons, a ring as its
    outer and inner circles joined by a zero-width cut, a cross as its 12 corners."""
    if kind in ("circle", "ring"):
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        outer = np.stack((cx + r * np.cos(t), cy + r * np.sin(t)), 1)
        if kind == "circle":
            return outer
        inner = np.stack((cx + 0.65 * r * np.cos(t), cy + 0.65 * r * np.sin(t)), 1)[::-1]
        # outer loop, across to the inner circle, inner loop the other way round, back out
        return np.concatenate((outer, outer[:1], np.roll(inner, 1, 0), inner[-1:]))
    if kind == "cross":
        t = r * 0.35
        q = [(t, r), (t, t), (r, t), (r, -t), (t, -t), (t, -r),
             (-t, -r), (-t, -t), (-r, -t), (-r, t), (-t, t), (-t, r)]  # fmt: skip
        return np.array(q, np.float64) + np.array([cx, cy])
    angle = 0.0 if kind in ("square", "diamond") else float(rng.uniform(0, 2 * math.pi))
    return _polygon(kind, cx, cy, r, angle)


def draw_polygon_shape(img: np.ndarray, kind: str, cx: float, cy: float, r: float, color, rng):
    """Fill a shape from its polygon; returns the polygon clipped to the image (pixels)."""
    poly = shape_polygon(kind, cx, cy, r, rng)
    cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], color, cv2.LINE_AA, shift=4)
    h, w = img.shape[:2]
    return clip_polygon(poly, w, h)


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, size)[:, None, None]
    img = (a * (1 - t) + b * t).astype(np.float32)
    img = (
        np.repeat(img, size, axis=1)
        if rng.random() < 0.5
        else np.repeat(img, size, axis=1).transpose(1, 0, 2)
    )
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 8))):  # clutter: lines and dots that are not objects
        p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.line(
            img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), color, int(rng.integers(1, 3))
        )
    for _ in range(int(rng.integers(5, 20))):
        p = rng.integers(0, size, 2)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(1, 3)), color, -1)
    return img


def _iou(a: tuple, b: tuple) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def make_image(
    spec: SynthSpec, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, tuple]]]:
    s = spec.imgsz
    img = _background(s, rng)
    objects: list[tuple[int, tuple]] = []
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        for _attempt in range(10):
            r = rng.uniform(spec.min_size, spec.max_size) * s / 2
            cx, cy = rng.uniform(r * 0.6, s - r * 0.6, 2)
            cls = int(rng.integers(spec.classes))
            color = tuple(int(c) for c in rng.integers(30, 256, 3))
            probe = (cx - r, cy - r, cx + r, cy + r)
            if all(_iou(probe, o[1]) < 0.3 for o in objects):
                if spec.task == "segment":
                    poly = draw_polygon_shape(img, SHAPES[cls], cx, cy, r, color, rng)
                    objects.append((cls, tuple(polygon_box(poly).tolist()), poly))
                else:
                    box = draw_shape(img, SHAPES[cls], cx, cy, r, color, rng)
                    objects.append((cls, box))
                break
    return img, objects


def _yolo_rows(objects: list[tuple], s: int) -> str:
    if objects and len(objects[0]) == 3:  # polygons
        labels = np.array([o[0] for o in objects])
        return format_polygons(labels, [o[2] for o in objects], (s, s))
    rows = []
    for c, (x1, y1, x2, y2) in objects:
        cx, cy, w, h = (x1 + x2) / 2 / s, (y1 + y2) / 2 / s, (x2 - x1) / s, (y2 - y1) / s
        rows.append(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(rows) + "\n"


def make_synthetic(out: str | Path, spec: SynthSpec = SynthSpec()) -> Path:
    """Write the dataset under out/ and return out/data.yaml (same spec -> same bytes)."""
    out = Path(out)
    if spec.classes > len(SHAPES):
        raise ValueError(f"at most {len(SHAPES)} classes ({', '.join(SHAPES)})")
    if spec.task not in ("detect", "segment"):
        raise ValueError(f"task={spec.task}: use detect or segment")
    for split, n, offset in (("train", spec.n_train, 0), ("val", spec.n_val, 1_000_000)):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([spec.seed, offset + i])
            img, objects = make_image(spec, rng)
            stem = f"{split}_{i:05d}"
            write_image(out / "images" / split / f"{stem}.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            write_text(out / "labels" / split / f"{stem}.txt", _yolo_rows(objects, spec.imgsz))
    names = {i: SHAPES[i] for i in range(spec.classes)}
    data = {"path": ".", "train": "images/train", "val": "images/val", "names": names,
            "synthetic": vars(spec)}  # fmt: skip
    path = out / "data.yaml"
    write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path
