"""`convert to=classify`: cut a classification dataset (ImageNet layout) from a detection one.

Every non-crowd box becomes one crop, saved as `<out>/<split>/<class name>/<image stem>_<j>.jpg`
(j: the box's row in that image's labels), so coco128 becomes a real-photo classification set.
Options: `pad` (a fraction of the box's width and height added on each side), `min_size` (crops
with a shorter side, in pixels, are skipped). Rows the detection check drops (zero size, out of
bounds, bad class ...) and boxes that leave no pixel or are too small are reported by file,
never crashed on. A crop is written to a temporary file and renamed, and existing crops are not
written again: a second run over the same data is a no-op, and an interrupted run continues.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .dataset import DatasetError, DetectionDataset
from .report import KINDS, Problem

LOGGER = logging.getLogger("yoloarena")
KINDS.update({
    "box.empty": ("box with no pixel inside the image", "no crop"),
    "box.too_small": ("crop shorter than min_size", "no crop"),
})  # fmt: skip
MANIFEST = "convert.json"


@dataclass
class CropSummary:
    """What a conversion did, per split; problems name the file and the box."""

    out: Path
    written: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def crops(self) -> dict[str, int]:
        return {s: self.written.get(s, 0) + self.existing.get(s, 0) for s in self.written}


def folder_name(name: str, index: int) -> str:
    """A class name usable as a folder name (path separators replaced)."""
    clean = name.replace("/", "_").replace("\\", "_").strip().strip(".")
    return clean or f"class{index}"


def crop_box(box: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    """Integer pixel window (x1, y1, x2, y2) covering the padded box, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dw, dh = (x2 - x1) * pad, (y2 - y1) * pad
    h, w = shape
    return (max(math.floor(x1 - dw), 0), max(math.floor(y1 - dh), 0),
            min(math.ceil(x2 + dw), w), min(math.ceil(y2 + dh), h))  # fmt: skip


def _settings(splits: dict[str, DetectionDataset], pad: float, min_size: int) -> dict:
    first = next(iter(splits.values()))
    return {"source": first.source, "splits": list(splits), "pad": pad, "min_size": min_size}


def _check_manifest(out: Path, settings: dict) -> None:
    path = out / MANIFEST
    if not path.is_file():
        return
    try:
        before = json.loads(path.read_text()).get("settings")
    except ValueError:
        before = None
    if before != settings:
        raise DatasetError(
            f"'{out}' holds a classification set cut with other settings ({before}); "
            "choose another out= folder or delete it"
        )


def to_classify(
    splits: dict[str, DetectionDataset], out: str | Path, pad: float = 0.0, min_size: int = 0
) -> CropSummary:
    """Write one crop per non-crowd box of every split; returns what was written and skipped."""
    out = Path(out)
    if pad < 0 or min_size < 0:
        raise DatasetError(f"pad={pad} and min_size={min_size} must not be negative")
    settings = _settings(splits, pad, min_size)
    _check_manifest(out, settings)
    summary = CropSummary(out)
    for split, ds in splits.items():
        folders = {i: folder_name(n, i) for i, n in ds.names.items()}
        summary.problems += [p for p in ds.report.problems if p.kind != "image.no_label"]
        _split(ds, out / split, folders, pad, min_size, summary, split)
    text = json.dumps({
        "settings": settings, "crops": summary.crops, "per_class": summary.per_class,
        "problems": [asdict(p) for p in summary.problems],
    }, indent=1)  # fmt: skip
    manifest = out / MANIFEST
    if not manifest.is_file() or manifest.read_text() != text:
        out.mkdir(parents=True, exist_ok=True)
        manifest.write_text(text)
    return summary


def _split(ds, folder: Path, folders, pad, min_size, summary: CropSummary, split: str) -> None:
    written = existing = 0
    counts: dict[str, int] = {}
    for i, file in enumerate(ds.files):
        t = ds.targets(i)
        keep = ~t.crowd if t.crowd is not None else np.ones(len(t), bool)
        if not keep.any():
            continue
        stem = Path(file).stem
        img = None
        for j in np.flatnonzero(keep).tolist():
            x1, y1, x2, y2 = crop_box(t.boxes[j], tuple(ds.shapes[i]), pad)
            if x2 <= x1 or y2 <= y1:
                summary.problems.append(Problem(file, "box.empty", f"box {j}: {t.boxes[j]}"))
                continue
            if min(x2 - x1, y2 - y1) < min_size:
                summary.problems.append(
                    Problem(file, "box.too_small", f"box {j}: {x2 - x1}x{y2 - y1} px")
                )
                continue
            name = folders[int(t.labels[j])]
            target = folder / name / f"{stem}_{j}.jpg"
            counts[name] = counts.get(name, 0) + 1
            if target.is_file():
                existing += 1
                continue
            img = ds.load_image(i) if img is None else img
            _write(target, img[y1:y2, x1:x2])
            written += 1
    summary.written[split], summary.existing[split] = written, existing
    summary.per_class[split] = dict(sorted(counts.items()))


def _write(path: Path, crop: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.jpg")
    if not cv2.imwrite(str(tmp), crop, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write '{path}'")
    os.replace(tmp, path)
