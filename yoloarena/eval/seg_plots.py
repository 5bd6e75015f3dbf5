"""Val images with masks: ground truth and predictions side by side files, as upstream's
val_batch*_labels.jpg / val_batch*_pred.jpg mosaics."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..ops.mask_decode import decode_rle
from ..plotting import class_color, draw_detections
from ..writes import write_image

TILE = 320  # pixels of the long side of each image in the mosaic


def plot_mask_mosaics(
    dataset, predictions: list[dict], folder: str | Path, conf: float = 0.25, n: int = 16
) -> list[Path]:
    """val_batch0_labels.jpg (polygons) and val_batch0_pred.jpg (masks of the predictions with
    score >= conf) of the dataset's first n images."""
    ids = list(range(min(n, len(dataset))))
    by_image: dict[int, list[dict]] = {}
    for p in predictions:
        if p["score"] >= conf and "segmentation" in p:
            by_image.setdefault(int(p["image_id"]), []).append(p)
    label_tiles, pred_tiles = [], []
    cat_to_class = {c: i for i, c in enumerate(dataset.category_ids)}
    for i in ids:
        img = dataset.load_image(i)
        t = dataset.targets(i)
        keep = ~t.crowd if t.crowd is not None else np.ones(len(t), bool)
        gt_masks = [
            _polygon_mask(poly, img.shape[:2])
            for poly, k in zip(t.segments or [], keep, strict=False)
            if k
        ]
        label_tiles.append(_tile(img, gt_masks, t.boxes[keep], t.labels[keep], dataset.names))
        dets = by_image.get(int(dataset.image_ids[i]), [])
        masks = [decode_rle(p["segmentation"]) for p in dets]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (p["bbox"] for p in dets)],
                         np.float32).reshape(-1, 4)  # fmt: skip
        labels = np.array([cat_to_class[p["category_id"]] for p in dets], np.int64)
        scores = [p["score"] for p in dets]
        pred_tiles.append(_tile(img, masks, boxes, labels, dataset.names, scores))
    folder = Path(folder)
    return [
        write_image(folder / "val_batch0_labels.jpg", _mosaic(label_tiles)),
        write_image(folder / "val_batch0_pred.jpg", _mosaic(pred_tiles)),
    ]


def _polygon_mask(poly: np.ndarray, shape) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    if len(poly) >= 3:
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    return mask.astype(bool)


def _tile(img, masks, boxes, labels, names, scores=None) -> np.ndarray:
    out = img.copy()
    for m, c in zip(masks, labels.tolist(), strict=True):
        color = np.asarray(class_color(c), np.float32)
        out[m] = (out[m].astype(np.float32) * 0.5 + color * 0.5).astype(np.uint8)
    texts = [names.get(int(c), str(c)) + (f" {scores[k]:.2f}" if scores else "")
             for k, c in enumerate(labels.tolist())]  # fmt: skip
    k = TILE / max(img.shape[:2])
    small = cv2.resize(out, (max(round(img.shape[1] * k), 1), max(round(img.shape[0] * k), 1)))
    return draw_detections(small, boxes * k, labels, texts, line_width=1)


def _mosaic(tiles: list[np.ndarray]) -> np.ndarray:
    cols = max(math.ceil(math.sqrt(len(tiles))), 1)
    rows = max(math.ceil(len(tiles) / cols), 1)
    canvas = np.full((rows * TILE, cols * TILE, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        canvas[r * TILE : r * TILE + t.shape[0], c * TILE : c * TILE + t.shape[1]] = t
    return canvas
