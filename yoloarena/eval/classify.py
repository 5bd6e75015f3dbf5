"""Classification metrics: top-1 / top-5 accuracy, per-class accuracy, confusion matrix.

Top-k as upstream's classify/val.py: an image counts for top-k when its class is among the k most
probable (k = min(5, classes)); the accuracies are means over images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from .plots import save_figure


@dataclass
class ClassifyMetrics:
    top1: float
    top5: float
    per_class: list[dict]  # name, images, top1, top5 (None for a class without images)
    confusion: np.ndarray  # [C, C] counts: row = true class, column = predicted (top-1)
    names: dict[int, str]
    images: int
    hits: np.ndarray | None = None  # [N, 2] bool per image: top-1 correct, top-k correct

    @classmethod
    def from_topk(
        cls, topk: torch.Tensor, targets: torch.Tensor, names: dict[int, str]
    ) -> ClassifyMetrics:
        """topk [N, k] class indices, most probable first; targets [N] true classes."""
        nc = len(names)
        topk, targets = topk.long().cpu(), targets.long().cpu()
        n = int(targets.numel())
        correct = topk == targets[:, None]
        top1 = correct[:, 0].float() if n else torch.zeros(0)
        top5 = correct.any(1).float() if n else torch.zeros(0)
        per_class = []
        for i, name in names.items():
            sel = targets == i
            k = int(sel.sum())
            per_class.append({
                "class": i, "name": name, "images": k,
                "top1": float(top1[sel].mean()) if k else None,
                "top5": float(top5[sel].mean()) if k else None,
            })  # fmt: skip
        confusion = np.zeros((nc, nc), np.int64)
        if n:
            np.add.at(confusion, (targets.numpy(), topk[:, 0].numpy()), 1)
        hits = np.stack([top1.numpy(), top5.numpy()], 1).astype(bool)
        return cls(float(top1.mean()) if n else 0.0, float(top5.mean()) if n else 0.0,
                   per_class, confusion, dict(names), n, hits)  # fmt: skip

    @property
    def stats(self) -> dict[str, float]:
        return {"top1": self.top1, "top5": self.top5}

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "images": self.images,
                "per_class": self.per_class, "confusion": self.confusion.tolist()}  # fmt: skip

    def table(self) -> str:
        """Per-class accuracies as upstream's val.py prints them (verbose)."""
        rows = [f"{'class':>24}{'images':>10}{'top1_acc':>10}{'top5_acc':>10}",
                f"{'all':>24}{self.images:>10}{self.top1:>10.3f}{self.top5:>10.3f}"]  # fmt: skip
        for c in self.per_class:
            t1 = "-" if c["top1"] is None else f"{c['top1']:.3f}"
            t5 = "-" if c["top5"] is None else f"{c['top5']:.3f}"
            rows.append(f"{c['name'][:24]:>24}{c['images']:>10}{t1:>10}{t5:>10}")
        return "\n".join(rows)


def plot_classify_confusion(metrics: ClassifyMetrics, path: str | Path) -> Path:
    """The confusion matrix normalised per true class (rows), predicted classes as columns."""
    names = list(metrics.names.values())
    n = len(names)
    cm = metrics.confusion.astype(np.float64)
    data = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    data = np.where(data < 0.005, np.nan, data)
    size = min(max(6, n * 0.25), 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=120)
    im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if n <= 40:
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        if n <= 16:
            for (i, j), v in np.ndenumerate(data):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(f"Confusion matrix (top-1, normalised per true class), top-1 {metrics.top1:.3f}")
    return save_figure(fig, path)
