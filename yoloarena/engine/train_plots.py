"""Training plots: the first batches with their boxes, the label statistics, results.png."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from ..data.dataset import DetectionDataset
from ..eval.plots import save_figure, subplots
from ..plotting import draw_detections
from ..structures import BatchTargets
from ..writes import write_image


def plot_train_batch(
    images: torch.Tensor, targets: BatchTargets, path: Path, rgb: bool, limit: int = 16
) -> None:
    """A grid of (up to) 16 training images with their boxes, as the network sees them."""
    n = min(len(images), limit)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = images.shape[2:]
    grid = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i in range(n):
        img = images[i].permute(1, 2, 0).cpu().numpy()
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if rgb else np.ascontiguousarray(img)
        sel = targets.batch_index == i
        img = draw_detections(img, targets.boxes[sel].numpy(), targets.labels[sel].numpy(), None, 1)
        r, c = divmod(i, cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    scale = min(1.0, 1920 / max(grid.shape[:2]))
    if scale < 1:
        grid = cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    write_image(path, grid)


def plot_labels(data: DetectionDataset, path: Path) -> None:
    """Instances per class, and box centres and sizes relative to the image."""
    fig, axes = subplots(1, 3, figsize=(15, 4.5), dpi=100)
    counts = np.bincount(data.labels, minlength=data.num_classes)
    axes[0].bar(range(data.num_classes), counts, color="tab:blue")
    axes[0].set_title(f"instances per class ({int(counts.sum())} boxes)")
    if data.num_classes <= 30:
        axes[0].set_xticks(
            range(data.num_classes), list(data.names.values()), rotation=90, fontsize=7
        )
    wh = np.repeat(data.shapes[:, ::-1], np.diff(data.offsets), axis=0).astype(np.float32)
    b = data.boxes
    if len(b):
        axes[1].scatter(
            (b[:, 0] + b[:, 2]) / 2 / wh[:, 0], (b[:, 1] + b[:, 3]) / 2 / wh[:, 1], s=2, alpha=0.3
        )
        axes[2].scatter(
            (b[:, 2] - b[:, 0]) / wh[:, 0], (b[:, 3] - b[:, 1]) / wh[:, 1], s=2, alpha=0.3
        )
    for ax, title, (xl, yl) in (
        (axes[1], "box centres", ("x", "y")),
        (axes[2], "box sizes", ("width", "height")),
    ):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    save_figure(fig, path)


def plot_results(csv_path: Path, path: Path) -> None:
    """Every column of results.csv against the epoch."""
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    keys = [k for k in rows[0] if k not in ("epoch", "time_s") and not k.startswith("lr/")]
    epochs = [int(r["epoch"]) for r in rows]
    cols = 4
    fig, axes = subplots(
        math.ceil(len(keys) / cols), cols, figsize=(14, 3 * math.ceil(len(keys) / cols)), dpi=100
    )
    for ax, key in zip(np.ravel(axes), keys, strict=False):
        ax.plot(epochs, [float(r[key]) for r in rows], marker=".", linewidth=2)
        ax.set_title(key, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in np.ravel(axes)[len(keys) :]:
        ax.axis("off")
    save_figure(fig, path)
