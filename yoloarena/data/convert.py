"""Converting a dataset between YOLO txt (+ yaml) and COCO json, without copying images.

To COCO: one `annotations/instances_<split>.json` per split plus a `data.yaml` that points at
them. To YOLO: `images/<split>/` holds symbolic links to the original images (the images->labels
rule needs the labels beside them), `labels/<split>/*.txt` the boxes, and `data.yaml` the names.
Segmentation datasets keep their polygons: COCO `segmentation` polygons <-> YOLO-seg rows.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from ..writes import write_text
from .coco_json import write_coco
from .dataset import DetectionDataset
from .yolo_txt import format_labels, format_polygons

LOGGER = logging.getLogger("yoloarena")


def to_coco(splits: dict[str, DetectionDataset], out: str | Path) -> Path:
    """Write COCO jsons for the splits; returns the data.yaml that uses them."""
    out = Path(out)
    spec: dict = {"path": ".", "names": dict(next(iter(splits.values())).names)}
    for split, ds in splits.items():
        json_path = write_coco(ds, out / "annotations" / f"instances_{split}.json")
        spec[split] = str(json_path.relative_to(out))
        folders = {str(Path(f).parent) for f in ds.files}
        if len(folders) == 1:
            spec[f"{split}_images"] = folders.pop()
        else:
            LOGGER.warning(
                "%s: images in several folders; file names in the json are not unique", split
            )
    return _write_yaml(out, spec)


def to_yolo(splits: dict[str, DetectionDataset], out: str | Path) -> Path:
    """Write YOLO labels (and image links) for the splits; returns the new data.yaml."""
    out = Path(out)
    spec: dict = {"path": ".", "names": dict(next(iter(splits.values())).names)}
    for split, ds in splits.items():
        image_dir, label_dir = out / "images" / split, out / "labels" / split
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        crowd = 0
        for i, file in enumerate(ds.files):
            link = image_dir / Path(file).name
            if not link.exists():
                os.symlink(Path(file).resolve(), link)
            t = ds.targets(i)
            keep = ~t.crowd
            crowd += int((~keep).sum())
            shape = tuple(ds.shapes[i])
            if t.segments is not None:  # YOLO-seg: one polygon per row
                polygons = [poly for poly, k in zip(t.segments, keep, strict=True) if k]
                text = format_polygons(t.labels[keep], polygons, shape)
            else:
                text = format_labels(t.labels[keep], t.boxes[keep], shape)
            write_text(label_dir / Path(file).with_suffix(".txt").name, text)
        if crowd:
            LOGGER.warning(
                "%s: %d crowd boxes left out (YOLO labels have no crowd flag)", split, crowd
            )
        spec[split] = f"images/{split}"
    return _write_yaml(out, spec)


def _write_yaml(out: Path, spec: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "data.yaml"
    write_text(path, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path
