"""YOLO txt labels: one row `class cx cy w h` per object, normalised to [0, 1].

A row with 1 + 2k values (k >= 3) is a polygon; its box is the polygon's extent. Every problem
in a file becomes a Problem with the line number and what was done (see data/report.py).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .report import Problem

CLIP_TOLERANCE = 0.02  # boxes out by at most 2% of the image are clipped; further out: dropped
FLOAT_NOISE = 1e-5  # clipping below this is rounding noise and is not reported


def label_path_for(image: str | Path) -> Path:
    """The label file of an image: the last /images/ folder becomes /labels/, suffix .txt."""
    text = str(image)
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if images in text:
        head, tail = text.rsplit(images, 1)
        text = head + labels + tail
    return Path(text).with_suffix(".txt")


def parse_labels(text: str, num_classes: int, file: str) -> tuple[np.ndarray, list[Problem]]:
    """Rows [K, 5] (class, x1, y1, x2, y2 normalised) that survive the checks, and the problems."""
    rows: list[tuple[float, ...]] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        row, problem = _parse_row(fields, num_classes, file, number)
        if problem is not None:
            problems.append(problem)
        if row is not None:
            rows.append(row)
    out = np.array(rows, dtype=np.float64).reshape(-1, 5)
    unique, first = np.unique(out, axis=0, return_index=True)
    if len(unique) < len(out):
        problems.append(Problem(file, "label.duplicate", f"{len(out) - len(unique)} removed"))
        out = out[np.sort(first)]
    return out, problems


def _parse_row(
    fields: list[str], num_classes: int, file: str, line: int
) -> tuple[tuple[float, ...] | None, Problem | None]:
    def fail(kind: str, detail: str = "") -> tuple[None, Problem]:
        return None, Problem(file, kind, detail, line)

    n = len(fields)
    if n != 5 and (n < 7 or n % 2 == 0):
        return fail("label.columns", f"{n} values")
    try:
        values = [float(v) for v in fields]
    except ValueError:
        return fail("label.non_numeric", " ".join(fields)[:60])
    if not all(math.isfinite(v) for v in values):
        return fail("label.non_finite")
    cls = values[0]
    if not cls.is_integer():
        return fail("label.class_not_integer", fields[0])
    if cls < 0:
        return fail("label.class_negative", fields[0])
    if cls >= num_classes:
        return fail("label.class_out_of_range", f"class {int(cls)}, {num_classes} names")
    if n == 5:
        cx, cy, w, h = values[1:]
        if w <= 0 or h <= 0:
            return fail("label.zero_size", f"w={w:g} h={h:g}")
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    else:
        xs, ys = values[1::2], values[2::2]
        box = [min(xs), min(ys), max(xs), max(ys)]
    out = max(-box[0], -box[1], box[2] - 1, box[3] - 1)
    if out > CLIP_TOLERANCE:
        return fail("label.out_of_bounds", f"{out:.3f} of the image outside")
    clipped = [min(max(v, 0.0), 1.0) for v in box]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return fail("label.zero_size", "nothing left after clipping")
    problem = Problem(file, "label.clipped", f"by {out:.4f}", line) if out > FLOAT_NOISE else None
    return (cls, *clipped), problem


def format_labels(labels: np.ndarray, boxes_xyxy: np.ndarray, shape_hw: tuple[int, int]) -> str:
    """YOLO rows for pixel xyxy boxes of an image of shape (h, w)."""
    h, w = shape_hw
    lines = []
    for c, (x1, y1, x2, y2) in zip(labels.tolist(), boxes_xyxy.tolist(), strict=True):
        cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
        lines.append(f"{int(c)} {cx:.8f} {cy:.8f} {bw:.8f} {bh:.8f}")
    return "\n".join(lines) + ("\n" if lines else "")
