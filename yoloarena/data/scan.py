"""Scanning a split: image integrity and size, labels, in parallel threads."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .images import IMAGE_SUFFIXES, ImageReadError, header_size, max_image_pixels
from .polygons import polygon_area
from .report import Problem
from .yolo_txt import label_path_for, parse_label_rows

MIN_IMAGE_SIZE = 10
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass
class ImageRecord:
    """One image after the scan: its size (None if unusable) and its labels in pixels."""

    file: str
    shape: tuple[int, int] | None  # (h, w) after EXIF orientation
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    crowd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    areas: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    image_id: int | None = None
    problems: list[Problem] = field(default_factory=list)
    # per row: its polygon [P, 2] float32 pixels, or None for a box row (None: no row has one)
    segments: list[np.ndarray | None] | None = None
    lines: list[int] | None = None  # per row: its line in the label file (YOLO labels)

    @property
    def kept(self) -> bool:
        return self.shape is not None


def image_shape(path: str | Path) -> tuple[tuple[int, int] | None, list[Problem]]:
    """(h, w) of an image file as decoded (EXIF applied), or None with the reason."""
    file = str(path)
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return None, [Problem(file, "image.unsupported", path.suffix or "no suffix")]
    try:
        size = path.stat().st_size
    except OSError:
        return None, [Problem(file, "image.missing")]
    if size == 0:
        return None, [Problem(file, "image.empty")]
    problems = []
    try:
        size = header_size(path)  # nothing decoded: a decompression bomb stops here
        if size is None:
            raise UnidentifiedImageError(f"cannot identify image file {str(path)!r}")
        limit = max_image_pixels()
        w, h = size
        if limit is not None and w * h > limit:
            detail = f"{w}x{h} = {w * h / 1e6:.1f} MP > {limit / 1e6:.1f} MP"
            return None, [Problem(file, "image.too_large", detail)]
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:  # verify() leaves the file unusable: reopen for the size
            w, h = im.size
            if im.getexif().get(0x0112, 1) in _ROTATED:
                w, h = h, w
            if im.format == "JPEG" and not _has_jpeg_end(path):
                problems.append(Problem(file, "image.truncated"))
    except (ImageReadError, Image.DecompressionBombError) as e:  # PIL's own limit refused it
        return None, [Problem(file, "image.too_large", str(e).split(": ", 1)[-1][:120])]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return None, [Problem(file, "image.corrupt", str(e)[:80])]
    if min(w, h) < MIN_IMAGE_SIZE:
        return None, [*problems, Problem(file, "image.too_small", f"{w}x{h}")]
    return (h, w), problems


def _has_jpeg_end(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-2, os.SEEK_END)
        return f.read() == b"\xff\xd9"


def scan_yolo_image(image: str, num_classes: int) -> ImageRecord:
    """Check an image and its YOLO label file; boxes are converted to pixels."""
    shape, problems = image_shape(image)
    record = ImageRecord(image, shape, problems=problems)
    if shape is None:
        return record
    label = label_path_for(image)
    try:
        text = label.read_bytes().decode("utf-8")
    except FileNotFoundError:
        record.problems.append(Problem(image, "image.no_label"))
        return record
    except (OSError, UnicodeDecodeError) as e:
        record.problems.append(Problem(str(label), "label.unreadable", str(e)[:80]))
        record.shape = None
        return record
    parsed = parse_label_rows(text, num_classes, str(label))
    rows = parsed.rows
    record.problems += parsed.problems
    h, w = shape
    boxes = (rows[:, 1:] * np.array([w, h, w, h])).astype(np.float32)
    record.boxes, record.labels = boxes, rows[:, 0].astype(np.int64)
    record.crowd = np.zeros(len(rows), bool)
    areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).astype(np.float32)
    if any(p is not None for p in parsed.polygons):
        record.segments = [None if p is None else (p * [w, h]).astype(np.float32)
                           for p in parsed.polygons]  # fmt: skip
        for j, poly in enumerate(record.segments):
            if poly is not None:  # COCO convention: the area of a segmented object is its mask's
                areas[j] = polygon_area(poly)
    record.lines = parsed.lines
    record.areas = areas
    return record


def parallel_map(fn: Callable, items: Sequence, workers: int | None = None) -> list:
    """fn over items in threads (PIL and file reads release the GIL), in order."""
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if workers <= 1 or len(items) < 8:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items, chunksize=16))


def orphan_labels(images: Iterable[str]) -> list[Problem]:
    """Label files in the label folders of these images that belong to no image."""
    images = list(images)
    expected = {label_path_for(i) for i in images}
    folders = {p.parent for p in expected}
    orphans = []
    for folder in sorted(folders):
        if folder.is_dir():
            orphans += [p for p in folder.glob("*.txt") if p not in expected]
    return [Problem(str(p), "label.orphan") for p in sorted(orphans)]
