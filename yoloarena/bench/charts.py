"""Charts of a benchmark or comparison: AP vs latency (one series per family, the Pareto front
marked), mean PR curves of several models on one plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..eval.plots import save_figure, subplots

FAMILY_STYLE = {"yolov5": ("tab:blue", "o"), "damoyolo": ("tab:orange", "s")}
FAMILY_LABEL = {"yolov5": "YOLOv5", "damoyolo": "DAMO-YOLO"}


def latency_backend(rows: list[dict]) -> str | None:
    """The backend the chart uses: onnx when measured for all, else the first common one."""
    common = [b for b in rows[0]["latency"] if all(b in r["latency"] for r in rows)] if rows else []
    return "onnx" if "onnx" in common else (common[0] if common else None)


def accuracy(rows: list[dict], backend: str | None = None) -> tuple[str, list[float | None]]:
    """Measured AP when any model has it (with backend: that backend's file's score where it
    was measured), else published mAP; never a mix of the two."""
    if backend and any(backend in (r.get("backend_metrics") or {}) for r in rows):
        from .budget import accuracy_on, metric_of

        metric = metric_of(rows)
        label = "top-1 accuracy" if metric == "top1" else "AP50-95"
        return f"{label} measured here ({backend})", [accuracy_on(r, backend, metric)
                                                       for r in rows]  # fmt: skip
    if any("top1" in (r.get("metrics") or {}) for r in rows):
        return "top-1 accuracy measured here", [(r.get("metrics") or {}).get("top1") for r in rows]
    if any(r.get("metrics") for r in rows):
        return "AP50-95 measured here", [(r.get("metrics") or {}).get("AP") for r in rows]
    if any("top1" in (r.get("published") or {}) for r in rows):
        published = [p.get("top1") if (p := r.get("published") or {}).get("imgsz") == r["imgsz"]
                     else None for r in rows]  # fmt: skip
        return "published top-1 (ImageNet, official README)", published
    published = [
        p.get("map50_95") if (p := r.get("published") or {}).get("imgsz") == r["imgsz"] else None
        for r in rows
    ]  # a published mAP only next to a latency measured at its own input size
    return "published mAP50-95 (COCO, official READMEs)", published


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and AP (higher)."""
    keep = []
    for i, (x, y) in enumerate(points):
        beaten = any(
            (x2 <= x and y2 >= y) and (x2 < x or y2 > y)
            for j, (x2, y2) in enumerate(points)
            if j != i
        )
        if not beaten:
            keep.append(i)
    return keep


def plot_tradeoff(rows: list[dict], path: str | Path, budget=None) -> Path:
    """AP (or top-1) vs latency; budget (a bench.budget.Choice): its backend is the x axis, the
    budget a vertical line, the chosen model circled."""
    backend = budget.backend if budget is not None else latency_backend(rows)
    ylabel, ys = accuracy(rows, backend if budget is not None else None)
    fig, ax = subplots(figsize=(7.5, 5), dpi=120)
    pts, idx = [], []
    for i, (r, y) in enumerate(zip(rows, ys, strict=True)):
        if backend and y is not None:
            pts.append((r["latency"][backend]["median_ms"], float(y)))
            idx.append(i)
    for family in dict.fromkeys(rows[i]["family"] for i in idx):
        color, marker = FAMILY_STYLE.get(family, ("tab:green", "^"))
        sel = sorted((pts[k], rows[idx[k]]["model"]) for k in range(len(idx))
                     if rows[idx[k]]["family"] == family)  # fmt: skip
        xs, ys_f = [p[0][0] for p in sel], [p[0][1] for p in sel]
        ax.plot(xs, ys_f, marker=marker, color=color, label=FAMILY_LABEL.get(family, family))
        for (x, y), name in sel:
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    front = pareto(pts)
    if len(front) > 1 or (front and len(pts) > 1):
        fx = sorted(pts[k] for k in front)
        ax.plot(*zip(*fx, strict=True), linestyle="--", color="grey", linewidth=1,
                label="Pareto front")  # fmt: skip
    if budget is not None:
        ax.axvline(budget.budget_ms, color="tab:red", linestyle=":", linewidth=1.5,
                   label=f"budget {budget.budget_ms:g} ms")  # fmt: skip
        if budget.row is not None and budget.row in [rows[i] for i in idx]:
            x, y = pts[[rows[i] for i in idx].index(budget.row)]
            ax.plot([x], [y], "o", markersize=14, markerfacecolor="none", color="tab:red",
                    label=f"best under budget: {budget.row['model']}")  # fmt: skip
    if not pts:
        ax.text(0.5, 0.5, "no accuracy figures to plot", ha="center", transform=ax.transAxes)
    left_out = [r["model"] for r, y in zip(rows, ys, strict=True) if y is None]
    if left_out and ylabel.startswith("published"):
        ax.text(0.01, 0.01, "not shown (published at another size): " + ", ".join(left_out),
                transform=ax.transAxes, fontsize=7, color="grey", wrap=True)  # fmt: skip
    ax.set_xlabel(f"latency, ms per image ({backend or '-'}, model only, measured here)")
    ax.set_ylabel(ylabel)
    ax.set_title("Accuracy vs latency (up and left is better)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_pr_curves(curves: dict[str, np.ndarray], path: str | Path) -> Path:
    """Class-mean precision vs recall at IoU 0.5, one line per model."""
    fig, ax = subplots(figsize=(7, 5), dpi=120)
    recall = np.linspace(0, 1, 101)
    for name, curve in curves.items():
        c = np.asarray(curve, dtype=float)
        ax.plot(recall, c, linewidth=2, label=f"{name} (area {c.mean():.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_title("Precision-recall at IoU 0.5 (mean over classes)")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8, loc="lower left")
    return save_figure(fig, path)
