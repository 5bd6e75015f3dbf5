"""Small data structures passed between modules: Targets, BatchTargets and Results.

LetterboxInfo is defined with the letterbox it describes (ops/letterbox.py) and re-exported here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .ops.boxes import xyxy_to_cxcywh, xyxy_to_ltwh
from .ops.letterbox import LetterboxInfo
from .plotting import class_color, draw_detections
from .probs import Probs, draw_probs
from .writes import append_text, write_image

if TYPE_CHECKING:
    from .masks import Masks

__all__ = ["BatchTargets", "LetterboxInfo", "Results", "Targets"]


@dataclass
class Targets:
    """Ground truth of one image: xyxy pixel boxes, class labels, and crowd (ignore) flags.

    segments (segmentation datasets): one polygon per box, [K_i, 2] float32 pixel xy; a crowd
    box has an empty [0, 2] polygon.
    """

    boxes: np.ndarray  # [N, 4] float32, xyxy pixels
    labels: np.ndarray  # [N] int64
    crowd: np.ndarray | None = None  # [N] bool: COCO iscrowd, ignored by the evaluator
    segments: list[np.ndarray] | None = None  # [N] polygons [K_i, 2] float32 pixel xy

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> Targets:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, bool))


@dataclass
class BatchTargets:
    """Ground truth of a training batch: one row per box, boxes xyxy in input-tensor pixels.

    Segmentation batches also carry masks at the mask resolution (input size / mask ratio):
    overlap=True (the official default): [B, h, w], one map per image whose pixel value k > 0
    means the image's k-th row (rows of an image are ordered largest mask first, so a smaller
    mask wins where masks overlap); overlap=False: [M, h, w] 0/1, one mask per row.
    """

    batch_index: torch.Tensor  # [M] int64: which image of the batch
    labels: torch.Tensor  # [M] int64
    boxes: torch.Tensor  # [M, 4] float32 xyxy pixels of the network input
    image_size: tuple[int, int]  # (h, w) of the input tensor
    masks: torch.Tensor | None = None  # [B, h, w] (overlap) or [M, h, w]
    overlap: bool = True

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> BatchTargets:
        masks = None if self.masks is None else self.masks.to(device)
        return BatchTargets(
            self.batch_index.to(device), self.labels.to(device), self.boxes.to(device),
            self.image_size, masks, self.overlap,
        )  # fmt: skip

    def normalized_rows(self) -> torch.Tensor:
        """[M, 6] rows (image, class, cx, cy, w, h), coordinates divided by the input size."""
        h, w = self.image_size
        b = self.boxes
        scale = torch.tensor([w, h, w, h], dtype=b.dtype, device=b.device)
        cxcywh = torch.stack(((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                              b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), 1) / scale  # fmt: skip
        return torch.cat((self.batch_index[:, None].to(b.dtype),
                          self.labels[:, None].to(b.dtype), cxcywh), 1)  # fmt: skip

    def per_image(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(boxes, labels) of each image of the batch."""
        return [(self.boxes[self.batch_index == i], self.labels[self.batch_index == i])
                for i in range(batch_size)]  # fmt: skip


class Results:
    """Detections of one image, in original-image pixels (xyxy); segmentation models add
    ``masks`` (a `yoloarena.masks.Masks`, one mask per detection at the original image size);
    a classifier gives its class probabilities instead (``probs``: a Probs with top1/top5)."""

    def __init__(
        self,
        boxes: torch.Tensor,
        scores: torch.Tensor,
        labels: torch.Tensor,
        names: dict[int, str],
        orig_shape: tuple[int, int],
        path: str | None = None,
        orig_img: np.ndarray | None = None,
        speed: dict[str, float] | None = None,
        frame: int | None = None,
        probs: torch.Tensor | None = None,
        input_shape: tuple[int, int] | None = None,
        masks: Masks | None = None,
    ) -> None:
        self.boxes = boxes.detach().float().cpu().reshape(-1, 4)
        self.scores = scores.detach().float().cpu().reshape(-1)
        self.labels = labels.detach().long().cpu().reshape(-1)
        self.names = names
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))
        self.path = path
        self.orig_img = orig_img
        self.speed = dict(speed or {})
        self.frame = frame  # index in its video, None for still images
        self.probs = Probs(probs, names) if probs is not None else None
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.masks = masks

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def name_of(self, label: int) -> str:
        return self.names.get(int(label), str(int(label)))

    def summary(self) -> str:
        """'2 persons, 1 tie' (or '(no detections)'); a classifier's top 5 with probabilities."""
        if self.probs is not None:
            return self.probs.summary()
        if not len(self):
            return "(no detections)"
        counts = torch.bincount(self.labels)
        parts = [
            f"{int(n)} {self.name_of(c)}{'s' if n > 1 else ''}"
            for c, n in enumerate(counts.tolist())
            if n
        ]
        return ", ".join(parts)

    def __repr__(self) -> str:
        h, w = self.input_shape or self.orig_shape
        where = f"{self.path}: " if self.path else ""
        if self.frame is not None:
            where = f"{self.path} frame {self.frame}: "
        return f"Results({where}{h}x{w} {self.summary()})"

    def verbose(self) -> str:
        """One log line: path, size, what was found and how long each stage took."""
        line = repr(self)[len("Results(") : -1]
        if self.speed:
            line += ", " + ", ".join(f"{k} {v:.1f}ms" for k, v in self.speed.items())
        return line

    def print(self) -> None:
        print(self.verbose())

    def plot(
        self,
        img: np.ndarray | None = None,
        labels: bool = True,
        conf: bool = True,
        line_width: int | None = None,
    ) -> np.ndarray:
        """A copy of the image (BGR) with the detections drawn on it (masks as translucent
        overlays in the class colours, under the boxes)."""
        base = img if img is not None else self.orig_img
        if base is None:
            base = np.full((*self.orig_shape, 3), 114, dtype=np.uint8)
        if self.probs is not None:
            return draw_probs(base, self.probs)
        texts = None
        if labels:
            texts = [
                f"{self.name_of(c)} {s:.2f}" if conf else self.name_of(c) for _, s, c in self.rows()
            ]
        if self.masks is not None and len(self.masks):
            base = base.copy() if base.ndim == 3 else base[..., None].repeat(3, 2)
            self.masks.overlay(base, [class_color(c) for c in self.labels.tolist()])
        return draw_detections(base, self.boxes.numpy(), self.labels.numpy(), texts, line_width)

    def save(self, path: str | Path, **plot_kwargs) -> Path:
        """Write the annotated image to path (format from the suffix); WriteError on failure."""
        return write_image(path, self.plot(**plot_kwargs))

    def txt_rows(self, conf: bool = False) -> str:
        """YOLO label rows 'class cx cy w h [conf]' (normalised), one line per detection; with
        masks YOLO-seg rows 'class x1 y1 x2 y2 ... [conf]' (the normalised outline of each mask;
        a detection whose mask is empty has no row); for a classifier its top 5 as upstream's
        'confidence name' rows."""
        if self.probs is not None:
            return "\n".join(self.probs.lines()) + "\n"
        if self.masks is not None:
            return self._polygon_rows(conf)
        h, w = self.orig_shape
        cxcywh = xyxy_to_cxcywh(self.boxes) / torch.tensor([w, h, w, h], dtype=torch.float32)
        lines = []
        for box, (_, s, c) in zip(cxcywh.tolist(), self.rows(), strict=True):
            row = [c, *box, s] if conf else [c, *box]
            lines.append(" ".join(f"{v:.6g}" for v in row) + "\n")
        return "".join(lines)

    def _polygon_rows(self, conf: bool) -> str:
        lines = []
        for poly, (_, s, c) in zip(self.masks.xyn, self.rows(), strict=True):
            if len(poly) < 3:
                continue
            row = [c, *poly.ravel().tolist(), s] if conf else [c, *poly.ravel().tolist()]
            lines.append(" ".join(f"{v:.6g}" for v in row) + "\n")
        return "".join(lines)

    def save_txt(self, path: str | Path, conf: bool = False) -> Path:
        """Append YOLO label rows 'class cx cy w h [conf]' (normalised) to path; for a classifier
        the top 5 as 'confidence name' rows."""
        return append_text(path, self.txt_rows(conf))

    def save_crop(self, save_dir: str | Path, file_name: str | None = None) -> list[Path]:
        """Write each detection's crop to save_dir/<class name>/<file_name>.jpg."""
        if self.orig_img is None:
            raise ValueError("save_crop needs the original image (Results.orig_img is None)")
        stem = file_name or (Path(self.path).stem if self.path else "image")
        written: list[Path] = []
        per_class: dict[int, int] = {}
        for box, _, c in self.rows():
            x1, y1, x2, y2 = (round(v) for v in box)
            crop = self.orig_img[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
            if crop.size == 0:
                continue
            n = per_class[c] = per_class.get(c, -1) + 1
            out = Path(save_dir) / self.name_of(c) / (f"{stem}_{n}.jpg" if n else f"{stem}.jpg")
            written.append(write_image(out, crop))
        return written

    def rows(self) -> list[tuple[list[float], float, int]]:
        """(xyxy box, score, label) per detection, as Python numbers."""
        return list(
            zip(self.boxes.tolist(), self.scores.tolist(), self.labels.tolist(), strict=True)
        )

    def to_list(self) -> list[dict]:
        """One dict per detection: class, name, confidence, box (x1, y1, x2, y2 pixels), with
        masks also segmentation (COCO RLE at the image size); for a classifier one per top-5
        class (class, name, confidence)."""
        if self.probs is not None:
            return self.probs.to_list()
        out = [
            {
                "class": c,
                "name": self.name_of(c),
                "confidence": round(s, 5),
                "box": dict(zip(("x1", "y1", "x2", "y2"), (round(v, 2) for v in b), strict=True)),
            }
            for b, s, c in self.rows()
        ]
        if self.masks is not None:
            for row, rle in zip(out, self.masks.rle(), strict=True):
                row["segmentation"] = rle
        return out

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_list(), indent=indent)

    def to_coco(
        self, image_id: int | str, category_ids: dict[int, int] | None = None
    ) -> list[dict]:
        """COCO result entries (bbox = left, top, width, height, rounded to 3 decimals; with
        masks also segmentation, COCO RLE)."""
        ltwh = xyxy_to_ltwh(self.boxes).tolist()
        out = [
            {
                "image_id": image_id,
                "category_id": category_ids[c] if category_ids is not None else c,
                "bbox": [round(v, 3) for v in box],
                "score": round(s, 5),
            }
            for box, (_, s, c) in zip(ltwh, self.rows(), strict=True)
        ]
        if self.masks is not None:
            for row, rle in zip(out, self.masks.rle(), strict=True):
                row["segmentation"] = rle
        return out
