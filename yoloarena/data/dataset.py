"""DetectionDataset: images and their Targets, from a YOLO dataset yaml or a COCO json.

Labels are held in a few flat numpy arrays (not Python objects per box), so datasets stay small
in RAM and are shared copy-free by forked loader workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import YoloArenaError
from ..structures import Targets
from .images import read_image
from .polygons import rectangle
from .report import CheckReport, Problem
from .scan import ImageRecord
from .yolo_txt import label_path_for


class DatasetError(YoloArenaError):
    """A dataset description or file that cannot be used."""


@dataclass
class DetectionDataset:
    """Images (kept by the check) and their boxes, as flat arrays indexed by offsets."""

    files: list[str]
    shapes: np.ndarray  # [N, 2] (h, w) as decoded
    boxes: np.ndarray  # [M, 4] float32 xyxy pixels
    labels: np.ndarray  # [M] int64 contiguous class index
    crowd: np.ndarray  # [M] bool
    areas: np.ndarray  # [M] float32 (COCO 'area'; box area for YOLO labels)
    offsets: np.ndarray  # [N + 1] int64: boxes of image i are offsets[i]:offsets[i + 1]
    image_ids: np.ndarray  # [N] int64
    names: dict[int, str]
    category_ids: list[int]  # COCO category id of each class index
    report: CheckReport = field(default_factory=CheckReport)
    source: str = ""  # the yaml or json it came from
    # segmentation datasets: box j's polygon is seg_points[seg_offsets[j]:seg_offsets[j + 1]]
    # ([K, 2] float32 pixels; empty for crowd boxes); None for detection datasets
    seg_points: np.ndarray | None = None
    seg_offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def has_segments(self) -> bool:
        """Whether the labels hold polygons (a segmentation dataset)."""
        return self.seg_offsets is not None

    def segment(self, j: int) -> np.ndarray:
        """The polygon [K, 2] (float32 pixels) of box j (a flat index over all boxes)."""
        if self.seg_offsets is None or self.seg_points is None:
            raise ValueError(f"{self.source or 'this dataset'} has no polygons (detection labels)")
        return self.seg_points[self.seg_offsets[j] : self.seg_offsets[j + 1]]

    def targets(self, i: int) -> Targets:
        a, b = self.offsets[i], self.offsets[i + 1]
        segments = [self.segment(j) for j in range(a, b)] if self.has_segments else None
        return Targets(self.boxes[a:b], self.labels[a:b], self.crowd[a:b], segments)

    def subset(self, images: Sequence[int]) -> DetectionDataset:
        """The dataset restricted to these image indices (in this order), polygons included."""
        keep = np.asarray(images, np.int64)
        rows = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in keep.tolist()]
        rows_idx = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
        counts = np.diff(self.offsets)[keep]
        out = dataclasses.replace(
            self, files=[self.files[i] for i in keep.tolist()], shapes=self.shapes[keep],
            boxes=self.boxes[rows_idx], labels=self.labels[rows_idx], crowd=self.crowd[rows_idx],
            areas=self.areas[rows_idx], image_ids=self.image_ids[keep],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        )  # fmt: skip
        if self.has_segments:
            polygons = [self.segment(j) for j in rows_idx.tolist()]
            sizes = [len(poly) for poly in polygons]
            out.seg_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            out.seg_points = (np.concatenate(polygons) if polygons else np.zeros((0, 2))).astype(
                np.float32
            )
        return out

    def load_image(self, i: int) -> np.ndarray:
        """BGR uint8 pixels of image i (EXIF applied; gray, RGBA and 16-bit converted)."""
        return read_image(self.files[i])

    def instances_per_class(self) -> dict[str, int]:
        counts = np.bincount(self.labels[~self.crowd], minlength=self.num_classes)
        return {self.names[i]: int(n) for i, n in enumerate(counts)}

    def to_coco(self) -> dict:
        """The ground truth as a COCO instances dict (category ids = self.category_ids); with
        polygons every annotation has a segmentation (a crowd row: its box)."""
        images, annotations = [], []
        for i, (file, (h, w)) in enumerate(zip(self.files, self.shapes.tolist(), strict=True)):
            image_id = int(self.image_ids[i])
            images.append({"id": image_id, "file_name": Path(file).name, "height": h, "width": w})
            a, b = self.offsets[i], self.offsets[i + 1]
            for j in range(a, b):
                x1, y1, x2, y2 = self.boxes[j].tolist()
                annotations.append({
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": self.category_ids[int(self.labels[j])],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float(self.areas[j]),
                    "iscrowd": int(self.crowd[j]),
                })  # fmt: skip
                if self.has_segments:  # crowd rows have no polygon: their box is the region
                    poly = (
                        self.segment(j) if len(self.segment(j)) >= 3 else rectangle(self.boxes[j])
                    )
                    annotations[-1]["segmentation"] = [poly.ravel().tolist()]
        categories = [{"id": c, "name": self.names[i]} for i, c in enumerate(self.category_ids)]
        return {"images": images, "annotations": annotations, "categories": categories}

    @classmethod
    def from_records(
        cls,
        records: Sequence[ImageRecord],
        names: dict[int, str],
        category_ids: Sequence[int],
        report: CheckReport,
        source: str = "",
    ) -> DetectionDataset:
        """Build from scanned records: dropped images leave; the report gets the counts."""
        kept = [r for r in records if r.kept]
        counts = [len(r.labels) for r in kept]
        dataset = cls(
            files=[r.file for r in kept],
            shapes=np.array([r.shape for r in kept], np.int64).reshape(-1, 2),
            boxes=_cat([r.boxes for r in kept], (0, 4), np.float32),
            labels=_cat([r.labels for r in kept], (0,), np.int64),
            crowd=_cat([r.crowd for r in kept], (0,), bool),
            areas=_cat([r.areas for r in kept], (0,), np.float32),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            image_ids=np.array(_image_ids(kept), np.int64),
            names=dict(names),
            category_ids=list(category_ids),
            report=report,
            source=source,
        )
        if any(r.segments is not None for r in kept):
            dataset.seg_points, dataset.seg_offsets = _flat_segments(kept, report)
        report.images = len(kept)
        report.images_dropped = len(records) - len(kept)
        report.backgrounds = sum(n == 0 for n in counts)
        report.instances = int((~dataset.crowd).sum())
        report.per_class = dataset.instances_per_class()
        for r in records:
            report.problems.extend(r.problems)
        return dataset


def _flat_segments(records: Sequence[ImageRecord], report: CheckReport):
    """(points [P, 2], offsets [M + 1]) of every box's polygon. In a segmentation dataset a box
    without a polygon (not crowd) is reported and gets its rectangle as its polygon."""
    polygons: list[np.ndarray] = []
    for r in records:
        segments = r.segments or [None] * len(r.labels)
        for j, poly in enumerate(segments):
            if poly is None and not r.crowd[j]:
                line = r.lines[j] if r.lines else None
                where = str(label_path_for(r.file)) if r.lines else r.file
                report.problems.append(Problem(where, "seg.box_only", "", line))
                poly = rectangle(r.boxes[j])
            polygons.append(np.zeros((0, 2), np.float32) if poly is None else poly)
    counts = [len(p) for p in polygons]
    points = np.concatenate(polygons).astype(np.float32) if polygons else np.zeros((0, 2))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return points.astype(np.float32).reshape(-1, 2), offsets


def _cat(parts: list[np.ndarray], empty_shape: tuple, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(empty_shape, dtype)


def _image_ids(records: Sequence[ImageRecord]) -> list[int]:
    """COCO ids when known; else the numeric file stems when unique; else the index."""
    if all(r.image_id is not None for r in records):
        return [int(r.image_id) for r in records]
    stems = [Path(r.file).stem for r in records]
    if all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return list(range(len(records)))
