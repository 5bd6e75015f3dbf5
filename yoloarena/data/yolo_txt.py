"""YOLO txt labels: one row `class cx cy w h` per object, normalised to [0, 1].

A row with 1 + 2k values (k >= 3) is a polygon (YOLO-seg); its box is the polygon's extent.
Every problem in a file becomes a Problem with the line number and what was done (see
data/report.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .polygons import polygon_area
from .report import Problem

CLIP_TOLERANCE = 0.02  # boxes out by at most 2% of the image are clipped; further out: dropped
FLOAT_NOISE = 1e-5  # clipping below this is rounding noise and is not reported
ZERO_AREA = 1e-12  # polygons with a smaller normalised area have none


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
    parsed = parse_label_rows(text, num_classes, file)
    return parsed.rows, parsed.problems


@dataclass
class ParsedLabels:
    """The rows of one label file that survive the checks.

    rows [K, 5] (class, x1, y1, x2, y2 normalised); polygons: per row, [P, 2] normalised xy (a
    polygon row) or None (a box row); lines: the 1-based line number of each row.
    """

    rows: np.ndarray
    polygons: list[np.ndarray | None]
    lines: list[int]
    problems: list[Problem]


def parse_label_rows(text: str, num_classes: int, file: str) -> ParsedLabels:
    """Parse and check a YOLO label file (boxes and polygons); every problem has file and line."""
    rows: list[tuple[float, ...]] = []
    polygons: list[np.ndarray | None] = []
    lines: list[int] = []
    problems: list[Problem] = []
    seen: set[tuple[float, ...]] = set()
    duplicates = 0
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        row, polygon, problem = _parse_row(fields, num_classes, file, number)
        if problem is not None:
            problems.append(problem)
        if row is None:
            continue
        key = (*row, *(() if polygon is None else polygon.ravel().tolist()))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(row)
        polygons.append(polygon)
        lines.append(number)
    if duplicates:
        problems.append(Problem(file, "label.duplicate", f"{duplicates} removed"))
    out = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return ParsedLabels(out, polygons, lines, problems)


def _parse_row(fields: list[str], num_classes: int, file: str, line: int):
    """(row (class, x1, y1, x2, y2), polygon [P, 2] or None, problem); row None: dropped."""

    def fail(kind: str, detail: str = ""):
        return None, None, Problem(file, kind, detail, line)

    n = len(fields)
    if n == 3:
        return fail("seg.too_few_points", "1 point")
    if n >= 6 and n % 2 == 0:
        return fail("seg.odd_coordinates", f"{n - 1} coordinates")
    if n != 5 and n < 7:
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
    polygon = None
    if n == 5:
        cx, cy, w, h = values[1:]
        if w <= 0 or h <= 0:
            return fail("label.zero_size", f"w={w:g} h={h:g}")
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    else:
        polygon = np.array(values[1:], np.float64).reshape(-1, 2)
        box = [*polygon.min(0).tolist(), *polygon.max(0).tolist()]
    out = max(-box[0], -box[1], box[2] - 1, box[3] - 1)
    if out > CLIP_TOLERANCE:
        what = "of the polygon" if polygon is not None else "of the image"
        return fail("label.out_of_bounds", f"{out:.3f} {what} outside")
    clipped = [min(max(v, 0.0), 1.0) for v in box]
    if polygon is not None:
        polygon = polygon.clip(0.0, 1.0)
        bad = polygon_problem(polygon)
        if bad is not None:
            return fail(*bad)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return fail("label.zero_size", "nothing left after clipping")
    problem = Problem(file, "label.clipped", f"by {out:.4f}", line) if out > FLOAT_NOISE else None
    return (cls, *clipped), polygon, problem


def polygon_problem(polygon: np.ndarray, zero_area: float = ZERO_AREA) -> tuple | None:
    """(kind, detail) when a polygon cannot be a mask: < 3 distinct points or no area."""
    distinct = len(np.unique(polygon, axis=0))
    if distinct < 3:
        return "seg.too_few_points", f"{distinct} distinct points"
    if polygon_area(polygon) <= zero_area:
        return "seg.zero_area", f"{len(polygon)} points"
    return None


def format_polygons(
    labels: np.ndarray, polygons: list[np.ndarray], shape_hw: tuple[int, int]
) -> str:
    """YOLO-seg rows 'class x1 y1 x2 y2 ...' (normalised) for pixel polygons of an image."""
    h, w = shape_hw
    lines = []
    for c, poly in zip(labels.tolist(), polygons, strict=True):
        xy = (np.asarray(poly, np.float64) / [w, h]).ravel()
        lines.append(f"{int(c)} " + " ".join(f"{v:.8f}" for v in xy))
    return "\n".join(lines) + ("\n" if lines else "")


def format_labels(labels: np.ndarray, boxes_xyxy: np.ndarray, shape_hw: tuple[int, int]) -> str:
    """YOLO rows for pixel xyxy boxes of an image of shape (h, w)."""
    h, w = shape_hw
    lines = []
    for c, (x1, y1, x2, y2) in zip(labels.tolist(), boxes_xyxy.tolist(), strict=True):
        cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
        lines.append(f"{int(c)} {cx:.8f} {cy:.8f} {bw:.8f} {bh:.8f}")
    return "\n".join(lines) + ("\n" if lines else "")
