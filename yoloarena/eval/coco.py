"""COCO metrics (bbox, and segm for masks) with faster-coco-eval: the same numbers as
pycocotools, several times faster.

`evaluate_coco(gt, predictions)` returns the 12 standard stats, per-class AP, precision and
recall at the confidence that maximises the mean F1, and the curves behind them.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster

STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)
CONF_GRID = np.linspace(0, 1, 1001)


@dataclass
class EvalResult:
    stats: dict[str, float]
    per_class: list[dict] = field(default_factory=list)  # name, instances, AP, AP50, P, R
    precision: float = 0.0  # mean over classes, at the best-F1 confidence
    recall: float = 0.0
    f1: float = 0.0
    best_conf: float = 0.0
    # curves of the classes that have ground truth (rows named by class_names)
    pr_curves: np.ndarray | None = None  # [K, 101] precision at IoU 0.5 vs recall 0..1
    conf_curves: dict[str, np.ndarray] = field(default_factory=dict)  # P/R/F1 [K, 1001] vs conf
    class_names: list[str] = field(default_factory=list)
    records: Any = None  # per-image CocoRecords for the bootstrap (evaluate_coco(records=True))

    def to_dict(self) -> dict:
        return {
            "stats": self.stats,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "best_conf": self.best_conf,
            "per_class": self.per_class,
        }

    def table(self) -> str:
        head = f"{'class':>20} {'instances':>9} {'P':>6} {'R':>6} {'AP50':>6} {'AP':>6}"
        rows = [head, f"{'all':>20} {sum(c['instances'] for c in self.per_class):>9} "
                f"{self.precision:6.3f} {self.recall:6.3f} {self.stats['AP50']:6.3f} "
                f"{self.stats['AP']:6.3f}"]  # fmt: skip
        for c in self.per_class:
            rows.append(f"{c['name']:>20} {c['instances']:>9} {c['precision']:6.3f} "
                        f"{c['recall']:6.3f} {c['AP50']:6.3f} {c['AP']:6.3f}")  # fmt: skip
        return "\n".join(rows)


def _coco(gt: dict | str | Path) -> COCO:
    data = json.loads(Path(gt).read_text()) if isinstance(gt, str | Path) else gt
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(data)


def evaluate_coco(
    gt: dict | str | Path,
    predictions: list[dict] | str | Path,
    image_ids: list[int] | None = None,
    iou_type: str = "bbox",
    records: bool = False,
) -> EvalResult:
    """COCO evaluation of predictions (COCO result dicts) against gt (a COCO dict or file).

    iou_type "bbox" matches boxes; "segm" matches masks: predictions carry `segmentation` as RLE
    (masks_to_rle), ground truth as polygons or RLE; crowd regions are ignored as in COCO.
    records: also keep the per-image records of this evaluation (eval.bootstrap), from its IoUs.
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type={iou_type!r}: use 'bbox' or 'segm'")
    coco_gt = _coco(gt)
    dets = (
        json.loads(Path(predictions).read_text())
        if isinstance(predictions, str | Path)
        else predictions
    )
    ids = sorted(image_ids if image_ids is not None else coco_gt.getImgIds())
    if not dets:
        result = EvalResult(dict.fromkeys(STAT_NAMES, 0.0))
        if records:
            from .bootstrap import _no_detections

            result.records = _no_detections(coco_gt, ids, iou_type)
        return result
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in dets])  # loadRes adds fields in place
        ev = COCOeval_faster(
            coco_gt, coco_dt, iou_type, extra_calc=True, print_function=lambda *a: None
        )
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: float(v) for k, v in zip(STAT_NAMES, ev.stats, strict=False)}
    result = EvalResult(stats)
    _per_class(ev, coco_gt, coco_dt, result)
    if records:
        from .bootstrap import records_from_eval

        result.records = records_from_eval(ev, iou_type)
    return result


def masks_to_rle(masks: np.ndarray) -> list[dict]:
    """COCO RLE (counts as str, json-ready) of each boolean mask [N, H, W], via faster-coco-eval."""
    from faster_coco_eval.core import mask as mask_utils

    masks = np.asarray(masks, dtype=bool)
    if not len(masks):
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def _per_class(ev: COCOeval_faster, coco_gt: COCO, coco_dt: COCO, result: EvalResult) -> None:
    cat_ids = list(ev.params.catIds)
    names = {c["id"]: c["name"] for c in coco_gt.loadCats(cat_ids)}
    ids = set(ev.params.imgIds)
    n_gt = dict.fromkeys(cat_ids, 0)
    for ann in coco_gt.anns.values():
        if not ann.get("iscrowd", 0) and ann["image_id"] in ids:
            n_gt[ann["category_id"]] = n_gt.get(ann["category_id"], 0) + 1
    tp_ids = _true_positives_at_50(ev.eval["matched"], coco_gt, coco_dt)
    curves = {k: np.zeros((len(cat_ids), len(CONF_GRID))) for k in ("P", "R", "F1")}
    by_cat: dict[int, list[tuple[float, bool]]] = {c: [] for c in cat_ids}
    for dt_id, ann in coco_dt.anns.items():
        if ann["image_id"] in ids and ann["category_id"] in by_cat:
            by_cat[ann["category_id"]].append((ann["score"], dt_id in tp_ids))
    for k, cid in enumerate(cat_ids):
        if n_gt[cid]:
            p, r = _pr_vs_conf(by_cat[cid], n_gt[cid])
            curves["P"][k], curves["R"][k] = p, r
            curves["F1"][k] = 2 * p * r / np.maximum(p + r, 1e-16)
    has_gt = np.array([n_gt[c] > 0 for c in cat_ids])
    mean_f1 = curves["F1"][has_gt].mean(0) if has_gt.any() else np.zeros(len(CONF_GRID))
    best = int(mean_f1.argmax())
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    result.pr_curves = precision[0, :, has_gt, 0, -1].copy()  # classes with ground truth only
    result.conf_curves = {k: v[has_gt] for k, v in curves.items()}
    result.class_names = [names[c] for c, g in zip(cat_ids, has_gt, strict=True) if g]
    result.best_conf = float(CONF_GRID[best])
    result.f1 = float(mean_f1[best])
    if has_gt.any():
        result.precision = float(curves["P"][has_gt, best].mean())
        result.recall = float(curves["R"][has_gt, best].mean())
    for k, cid in enumerate(cat_ids):
        if not n_gt[cid]:
            continue
        p_all = precision[:, :, k, 0, -1]
        result.per_class.append({
            "name": names[cid],
            "category_id": int(cid),
            "instances": int(n_gt[cid]),
            "AP": float(p_all[p_all > -1].mean()) if (p_all > -1).any() else 0.0,
            "AP50": float(p_all[0][p_all[0] > -1].mean()) if (p_all[0] > -1).any() else 0.0,
            "precision": float(curves["P"][k, best]),
            "recall": float(curves["R"][k, best]),
        })  # fmt: skip


def _true_positives_at_50(matched: dict[str, float], coco_gt: COCO, coco_dt: COCO) -> set[int]:
    """Ids of the detections COCO matches at IoU 0.5.

    faster-coco-eval's `matched` holds the (detection, ground truth) pairs matched at any of the
    ten IoU thresholds, so one ground truth can appear with several detections. COCO's greedy
    matching at 0.5 is replayed on those pairs (each detection, by descending score, takes the
    free ground truth of highest IoU): every pair it makes at 0.5 is among them, so the replay
    makes the same ones. Detections on crowd regions are not true positives."""
    pairs: dict[int, list[tuple[float, int]]] = {}
    for key, iou in matched.items():
        if iou >= 0.5:
            d, g = (int(v) for v in key.split("_", 1))
            pairs.setdefault(d, []).append((iou, g))
    taken: set[int] = set()
    tp: set[int] = set()
    for d in sorted(pairs, key=lambda d: (-coco_dt.anns[d]["score"], d)):
        for _, g in sorted(pairs[d], reverse=True):
            if g not in taken and not coco_gt.anns[g].get("iscrowd", 0):
                taken.add(g)
                tp.add(d)
                break
    return tp


def _pr_vs_conf(items: list[tuple[float, bool]], n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of one class if only detections with score >= each grid value count."""
    if not items:
        return np.zeros(len(CONF_GRID)), np.zeros(len(CONF_GRID))
    arr = np.array(sorted(items, key=lambda t: -t[0]), dtype=np.float64)
    scores, cum_tp = arr[:, 0], np.cumsum(arr[:, 1])
    n_above = np.searchsorted(-scores, -CONF_GRID, side="right")
    tp = np.where(n_above > 0, cum_tp[np.maximum(n_above - 1, 0)], 0.0)
    precision = np.where(n_above > 0, tp / np.maximum(n_above, 1), 1.0)
    return precision, tp / n_gt
