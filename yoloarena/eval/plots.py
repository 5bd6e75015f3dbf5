"""Evaluation plots: precision-recall and confidence curves, confusion matrix.

Figures are matplotlib Figure objects rendered with the Agg canvas explicitly: nothing here
imports pyplot or switches the backend of a notebook that imports yoloarena.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..writes import write_figure
from .coco import CONF_GRID, EvalResult
from .confusion import ConfusionMatrix


def plot_pr_curve(result: EvalResult, path: str | Path, what: str = "") -> Path:
    """Precision vs recall at IoU 0.5: one thin line per class, the class mean in bold (what:
    a title prefix, e.g. 'Mask')."""
    fig, ax = subplots(figsize=(7, 6), dpi=120)
    recall = np.linspace(0, 1, 101)
    curves = result.pr_curves if result.pr_curves is not None else np.zeros((0, 101))
    valid = [k for k in range(len(curves)) if (curves[k] > -1).all()]
    few = len(valid) <= 12
    for k in valid:
        label = f"{result.class_names[k]} {curves[k].mean():.3f}" if few else None
        ax.plot(recall, curves[k], linewidth=1, alpha=0.6 if few else 0.25, label=label,
                color=None if few else "grey")  # fmt: skip
    if valid:
        mean = curves[valid].mean(0)
        ax.plot(recall, mean, linewidth=3, color="tab:blue",
                label=f"all classes AP50 {result.stats['AP50']:.3f}")  # fmt: skip
    _finish(ax, "Recall", "Precision", _title(f"{what} precision-recall curve (IoU 0.5)"))
    return save_figure(fig, path)


def plot_conf_curve(result: EvalResult, kind: str, path: str | Path, what: str = "") -> Path:
    """F1, P or R vs confidence threshold (IoU 0.5), per class and the class mean (what: a title
    prefix, e.g. 'Mask')."""
    names = {"F1": "F1", "P": "Precision", "R": "Recall"}
    fig, ax = subplots(figsize=(7, 6), dpi=120)
    curves = result.conf_curves.get(kind)
    if curves is not None and len(curves):
        for row in curves:
            ax.plot(CONF_GRID, row, linewidth=1, color="grey", alpha=0.25)
        mean = curves.mean(0)
        best = (
            int(mean.argmax())
            if kind == "F1"
            else int(np.abs(CONF_GRID - result.best_conf).argmin())
        )
        ax.plot(CONF_GRID, mean, linewidth=3, color="tab:blue",
                label=f"all classes {mean[best]:.2f} at {CONF_GRID[best]:.3f}")  # fmt: skip
    _finish(
        ax, "Confidence", names[kind], _title(f"{what} {names[kind]}-confidence curve (IoU 0.5)")
    )
    return save_figure(fig, path)


def _title(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def plot_confusion_matrix(cm: ConfusionMatrix, names: list[str], path: str | Path) -> Path:
    """The confusion matrix normalised per true class (columns), background last."""
    labels = [*names, "background"]
    n = len(labels)
    size = min(max(6, n * 0.25), 24)
    fig, ax = subplots(figsize=(size, size * 0.85), dpi=120)
    data = cm.normalized()
    data = np.where(data < 0.005, np.nan, data)
    im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if n <= 40:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        if n <= 16:
            for (i, j), v in np.ndenumerate(data):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    ax.set_title("Confusion matrix (normalised per true class)")
    return save_figure(fig, path)


def _finish(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left" if xlabel == "Recall" else "upper right", fontsize=8)


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A new Figure (not registered with pyplot) and its axes, like plt.subplots."""
    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "dpi") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lay out and write a figure (making the folder); WriteError if the write fails."""
    fig.tight_layout()
    return write_figure(fig, path)
