"""COCO `instances` json: reading into scan records, and writing a dataset out.

Category ids map to contiguous class indices in id order (names kept); `iscrowd` boxes are kept
as crowd (ignored by the evaluator, never trained on); `area` is kept for the COCO area ranges.
When annotations carry `segmentation`, each instance also gets one polygon (coco_segments.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..writes import write_json
from .coco_schema import annotation_problem, check_structure
from .coco_segments import coco_polygon, has_segmentation
from .dataset import DatasetError, DetectionDataset
from .report import Problem
from .scan import ImageRecord, image_shape, parallel_map
from .yolo_txt import CLIP_TOLERANCE, FLOAT_NOISE


def read_json(path: Path) -> dict:
    """The json, its structure checked (see coco_schema): DatasetError naming the entry."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"COCO json '{path}' not found") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # incl. JSONDecodeError
        raise DatasetError(f"{path}: not valid json ({str(e)[:200]})") from None
    check_structure(data, path)
    return data


def coco_categories(data: dict) -> tuple[dict[int, str], list[int]]:
    cats = sorted(data["categories"], key=lambda c: c["id"])
    return {i: str(c["name"]) for i, c in enumerate(cats)}, [int(c["id"]) for c in cats]


def find_image_dir(json_path: Path, file_names: list[str]) -> Path:
    """The folder holding the json's images: next to it, or under ../images/<name>/."""
    parent = json_path.parent
    candidates = [parent, parent.parent / "images", parent.parent, parent / "images"]
    for base in (parent.parent / "images", parent / "images"):
        if base.is_dir():
            candidates += sorted(p for p in base.iterdir() if p.is_dir())
    probe = file_names[:20]
    scores = [sum((folder / f).is_file() for f in probe) for folder in candidates]
    if probe and max(scores) > 0:
        return candidates[scores.index(max(scores))]
    raise DatasetError(
        f"{json_path}: cannot find its images (looked for {probe[:1]} next to the json and "
        "under ../images/); give the folder with <split>_images: in the dataset yaml"
    )


def read_coco(
    json_path: str | Path, image_dir: str | Path | None = None, workers: int | None = None
) -> tuple[list[ImageRecord], dict[int, str], list[int], list[Problem]]:
    """Records (one per image entry), names, category ids, and split-level problems."""
    json_path = Path(json_path)
    data = read_json(json_path)
    names, cat_ids = coco_categories(data)
    label_of = {cid: i for i, cid in enumerate(cat_ids)}
    file_names = [str(im["file_name"]) for im in data["images"]]
    folder = Path(image_dir) if image_dir else find_image_dir(json_path, file_names)
    entries, seen, problems = _unique_images(data["images"], json_path)
    conflicts = set(seen) - {im["id"] for im in entries}
    anns = defaultdict(list)
    for k, ann in enumerate(data["annotations"]):
        if bad := annotation_problem(ann, k, json_path):
            problems.append(bad)
        elif ann["image_id"] in conflicts:
            continue  # dropped with the conflicting images (reported once, above)
        elif ann.get("image_id") not in seen:
            problems.append(
                Problem(str(json_path), "coco.unknown_image", f"annotation {ann.get('id')}")
            )
        elif ann.get("category_id") not in label_of:
            problems.append(
                Problem(str(json_path), "coco.unknown_category", f"annotation {ann.get('id')}")
            )
        else:
            anns[ann["image_id"]].append(ann)

    segmented = has_segmentation(data["annotations"])

    def scan(im: dict) -> ImageRecord:
        return _scan_entry(im, anns[im["id"]], folder, label_of, segmented)

    return parallel_map(scan, entries, workers), names, cat_ids, problems


def _unique_images(images: list[dict], json_path: Path):
    """(entries, {id: index} of every id listed, problems). An entry repeating another one's id
    and file is dropped; an id given to different files is ambiguous (whose boxes are they?):
    all its entries are dropped, and so are its annotations."""
    first: dict[int, int] = {}
    conflicts: set[int] = set()
    problems = []
    for i, im in enumerate(images):
        j = first.setdefault(im["id"], i)
        if j == i:
            continue
        other = images[j]["file_name"]
        detail = f"images[{i}] ('{im['file_name']}') has the id {im['id']} of images[{j}]"
        if im["file_name"] == other:
            problems.append(Problem(str(json_path), "coco.duplicate_image", detail))
        else:
            conflicts.add(im["id"])
            detail += f" ('{other}')"
            problems.append(Problem(str(json_path), "coco.conflicting_image_id", detail))
    entries = [images[i] for i in first.values() if images[i]["id"] not in conflicts]
    return entries, first, problems


def _scan_entry(
    im: dict, anns: list[dict], folder: Path, label_of: dict[int, int], segmented: bool = False
) -> ImageRecord:
    file = str(folder / im["file_name"])
    shape, problems = image_shape(file)
    record = ImageRecord(file, shape, image_id=int(im["id"]), problems=problems)
    if shape is None:
        return record
    h, w = shape
    if (im.get("height"), im.get("width")) != (h, w):
        detail = f"json {im.get('width')}x{im.get('height')}, file {w}x{h}"
        record.problems.append(Problem(file, "coco.size_mismatch", detail))
    rows, segments = [], []
    for ann in anns:
        row = _coco_box(ann, w, h, file, record.problems)
        if row is not None:
            rows.append((*row, label_of[ann["category_id"]], bool(ann.get("iscrowd", 0))))
            if segmented:
                box = np.array(row[:4], np.float32)
                segments.append(coco_polygon(ann, w, h, file, record.problems, box))
    record.segments = segments if segmented else None
    if not anns:
        record.problems.append(Problem(file, "image.no_label", "no annotations"))
    arr = np.array([r[:5] for r in rows], np.float64).reshape(-1, 5)
    record.boxes = arr[:, :4].astype(np.float32)
    record.areas = arr[:, 4].astype(np.float32)
    record.labels = np.array([r[5] for r in rows], np.int64)
    record.crowd = np.array([r[6] for r in rows], bool)
    return record


def _coco_box(ann: dict, w: int, h: int, file: str, problems: list[Problem]):
    """(x1, y1, x2, y2, area) in pixels, clipped or None (with a Problem) when unusable."""
    where = f"annotation {ann.get('id')}"
    try:
        x, y, bw, bh = (float(v) for v in ann["bbox"])
    except (KeyError, TypeError, ValueError):
        problems.append(Problem(file, "label.non_numeric", where))
        return None
    if not all(np.isfinite([x, y, bw, bh])):
        problems.append(Problem(file, "label.non_finite", where))
        return None
    if bw <= 0 or bh <= 0:
        problems.append(Problem(file, "label.zero_size", f"{where}: {bw:g}x{bh:g}"))
        return None
    out = max(-x / w, -y / h, (x + bw) / w - 1, (y + bh) / h - 1)
    if out > CLIP_TOLERANCE:
        problems.append(Problem(file, "label.out_of_bounds", f"{where}: {out:.3f} outside"))
        return None
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + bw, float(w)), min(y + bh, float(h))
    if out > FLOAT_NOISE:
        problems.append(Problem(file, "label.clipped", f"{where}: by {out:.4f}"))
    area = float(ann.get("area") or (x2 - x1) * (y2 - y1))
    return x1, y1, x2, y2, area


def write_coco(dataset: DetectionDataset, path: str | Path) -> Path:
    """Write the dataset's ground truth as a COCO instances json (file names relative)."""
    path = Path(path)
    return write_json(path, dataset.to_coco())
