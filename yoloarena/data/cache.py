"""Scan cache: the result of checking a split, keyed by the sizes and mtimes of its files.

Written next to the labels (`labels/<split>.yoloarena.npz`), or under $YOLOARENA_CACHE_DIR when
set; a read-only location only costs a warning. The file holds plain arrays (no pickle).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .images import max_image_pixels
from .polygons import polygon_area
from .report import Problem
from .scan import ImageRecord
from .yolo_txt import label_path_for

LOGGER = logging.getLogger("yoloarena")
VERSION = "2"  # 2: polygons and label lines


def cache_path(images: list[str]) -> Path:
    """Next to the labels; under $YOLOARENA_CACHE_DIR when set, or under ~/.cache/yoloarena when
    the dataset folder is read-only (no write permission bits, even for root)."""
    folder = label_path_for(images[0]).parent
    override = os.environ.get("YOLOARENA_CACHE_DIR")
    if not override and _writable(folder.parent):
        return folder.parent / f"{folder.name}.yoloarena.npz"
    base = Path(override) if override else Path.home() / ".cache" / "yoloarena"
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]
    return base / f"{folder.name}-{digest}.yoloarena.npz"


def _writable(folder: Path) -> bool:
    try:
        return bool(folder.stat().st_mode & 0o222) and os.access(folder, os.W_OK)
    except OSError:
        return False


def cache_key(images: list[str], num_classes: int) -> str:
    """Hash of every image and label file's path, size and mtime (and the label folders)."""
    h = hashlib.sha1(f"{VERSION}|{num_classes}|{max_image_pixels()}|".encode())
    folders = set()
    for image in images:
        label = label_path_for(image)
        folders.add(label.parent)
        for path in (image, label):
            try:
                st = os.stat(path)
                h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{path}|-\n".encode())
    for folder in sorted(folders):
        with contextlib.suppress(OSError):
            h.update(f"{folder}|{os.stat(folder).st_mtime_ns}\n".encode())
    return h.hexdigest()


def load_cache(path: Path, key: str) -> tuple[list[ImageRecord], list[Problem]] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            files, shapes, offsets = z["files"].tolist(), z["shapes"], z["offsets"]
            boxes, labels, lines = z["boxes"], z["labels"], z["lines"]
            seg_counts, seg_points = z["seg_counts"], z["seg_points"]
            problems = [Problem(**p) for p in json.loads(str(z["problems"]))]
    except (OSError, KeyError, ValueError):
        return None
    seg_starts = np.concatenate([[0], np.cumsum(np.maximum(seg_counts, 0))])
    records = []
    for i, file in enumerate(files):
        a, b = offsets[i], offsets[i + 1]
        shape = tuple(int(v) for v in shapes[i]) if shapes[i][0] >= 0 else None
        bx = boxes[a:b]
        areas = ((bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])).astype(np.float32)
        record = ImageRecord(file, shape, bx, labels[a:b], np.zeros(b - a, bool), areas)  # type: ignore[arg-type]
        record.lines = lines[a:b].tolist()
        if (seg_counts[a:b] >= 0).any():
            record.segments = [
                seg_points[seg_starts[j] : seg_starts[j + 1]] if seg_counts[j] >= 0 else None
                for j in range(a, b)
            ]
            for k, poly in enumerate(record.segments):
                if poly is not None:
                    areas[k] = polygon_area(poly)
        records.append(record)
    own = {r.file: r for r in records}
    by_label = {str(label_path_for(f)): r for f, r in own.items()}
    extra = []
    for p in problems:  # problems go back to their image (or stay split-level: orphans)
        record = own.get(p.file) or by_label.get(p.file)
        (record.problems if record else extra).append(p)
    return records, extra


def _segment_arrays(records: list[ImageRecord]) -> dict[str, np.ndarray]:
    """Per row: its label line and polygon size (-1: a box row); all polygon points in one array."""
    lines, counts, points = [], [], []
    for r in records:
        n = len(r.labels)
        lines += list(r.lines or [0] * n)
        for poly in r.segments or [None] * n:
            counts.append(-1 if poly is None else len(poly))
            if poly is not None:
                points.append(np.asarray(poly, np.float32).reshape(-1, 2))
    return {
        "lines": np.array(lines, np.int64),
        "seg_counts": np.array(counts, np.int64),
        "seg_points": np.concatenate(points) if points else np.zeros((0, 2), np.float32),
    }


def save_cache(path: Path, key: str, records: list[ImageRecord], extra: list[Problem]) -> None:
    shapes = np.array([r.shape if r.shape else (-1, -1) for r in records], np.int64).reshape(-1, 2)
    counts = [len(r.labels) for r in records]
    problems = [asdict(p) for r in records for p in r.problems] + [asdict(p) for p in extra]
    arrays = {
        "key": np.array(key),
        "files": np.array([r.file for r in records]),
        "shapes": shapes,
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "boxes": np.concatenate([r.boxes for r in records]).reshape(-1, 4).astype(np.float32)
        if records
        else np.zeros((0, 4), np.float32),
        "labels": np.concatenate([r.labels for r in records]).astype(np.int64)
        if records
        else np.zeros(0, np.int64),
        "problems": np.array(json.dumps(problems)),
        **_segment_arrays(records),
    }
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        LOGGER.warning("could not write the scan cache %s (%s); the next check rescans", path, e)
        if tmp:
            Path(tmp).unlink(missing_ok=True)
