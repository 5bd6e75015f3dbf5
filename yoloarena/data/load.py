"""load_dataset: a YOLO dataset yaml or a COCO json -> checked DetectionDataset (with report)."""

from __future__ import annotations

import logging
from pathlib import Path

from .cache import cache_key, cache_path, load_cache, save_cache
from .coco_json import coco_categories, read_coco, read_json
from .dataset import DatasetError, DetectionDataset
from .report import CheckReport, Problem
from .scan import orphan_labels, parallel_map, scan_yolo_image
from .spec import SPLITS, list_images, read_data_yaml

LOGGER = logging.getLogger("yoloarena")


def load_dataset(
    data: str | Path, split: str = "val", workers: int | None = None, cache: bool = True
) -> DetectionDataset:
    """One split of a dataset, checked: dropped images and fixed rows are in `.report`."""
    path = Path(data)
    if path.suffix.lower() == ".json":
        return _coco_dataset(path, None, split, workers)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise DatasetError(f"data='{data}': give a dataset .yaml or a COCO instances .json")
    spec = read_data_yaml(path)
    entries = spec.entries(split)
    if len(entries) == 1 and entries[0].suffix.lower() == ".json":
        images = spec.extra.get(f"{split}_images")
        return _coco_dataset(entries[0], spec.root / images if images else None, split, workers)
    images, problems = list_images(entries, f"{path} ({split})")
    if not images:
        raise DatasetError(
            f"{path}: the '{split}' split has no images ({', '.join(map(str, entries))})"
        )
    records, extra, from_cache = _scan_yolo(images, len(spec.names), workers, cache)
    report = CheckReport(split=split, problems=problems + extra, from_cache=from_cache)
    ids = list(range(len(spec.names)))
    return DetectionDataset.from_records(records, spec.names, ids, report, str(path))


def _scan_yolo(images: list[str], nc: int, workers: int | None, cache: bool):
    """(records, split-level problems, whether they came from the cache)."""
    path = cache_path(images)
    key = cache_key(images, nc) if cache else ""
    cached = load_cache(path, key) if cache and path.is_file() else None
    if cached is not None:
        return cached[0], cached[1], True
    records = parallel_map(lambda f: scan_yolo_image(f, nc), images, workers)
    extra = orphan_labels(images)
    if cache:
        save_cache(path, key, records, extra)
    return records, extra, False


def _coco_dataset(json_path: Path, image_dir, split: str, workers) -> DetectionDataset:
    records, names, cat_ids, problems = read_coco(json_path, image_dir, workers)
    report = CheckReport(split=split, problems=problems)
    return DetectionDataset.from_records(records, names, cat_ids, report, str(json_path))


def check_dataset(data: str | Path, workers: int | None = None) -> list[CheckReport]:
    """Reports for every split of a dataset (one for a lone COCO json)."""
    path = Path(data)
    if path.suffix.lower() == ".json":
        return [load_dataset(path, "val", workers).report]
    spec = read_data_yaml(path)
    reports = []
    categories: dict[str, list] = {}
    for split in SPLITS:
        if not spec.splits.get(split):
            continue
        reports.append(load_dataset(path, split, workers).report)
        entries = spec.splits[split]
        if len(entries) == 1 and entries[0].suffix.lower() == ".json":
            categories[split] = list(coco_categories(read_json(entries[0]))[0].values())
    if len(set(map(tuple, categories.values()))) > 1:
        detail = "; ".join(f"{s}: {len(c)} classes" for s, c in categories.items())
        first = next(r for r in reports if r.split in categories)
        first.problems.append(Problem(str(path), "coco.class_mismatch", detail))
    return reports
