"""The true positives behind P, R and the P/R/F1 curves (eval.coco) are COCO's matches at IoU
0.5: one detection per ground truth, so recall never exceeds 1, and the AP50 recomputed from them
(COCO's 101-point interpolation) equals COCO's own per-class AP50 for boxes and masks.

(faster-coco-eval's `matched` lists the pairs of all ten IoU thresholds; counting all of them
gave mask recalls above 1 on a model in training.)"""

from __future__ import annotations

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster

from yoloarena.eval.coco import _true_positives_at_50, evaluate_coco, masks_to_rle


def _scene(seed: int) -> tuple[dict, list[dict]]:
    """3 images, 2 classes, square objects; many overlapping detections per object (jittered
    copies at random scores) and some false ones, with boxes and masks."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for img_id in range(1, 4):
        images.append({"id": img_id, "file_name": f"{img_id}.jpg", "height": 120, "width": 160})
        for _ in range(5):
            x, y, s = rng.uniform(5, 100), rng.uniform(5, 60), rng.uniform(12, 40)
            cat = int(rng.integers(1, 3))
            poly = [x, y, x + s, y, x + s, y + s, x, y + s]
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat,
                         "bbox": [x, y, s, s], "area": s * s, "iscrowd": 0,
                         "segmentation": [poly]})  # fmt: skip
            for _ in range(6):
                dx, dy, ds = rng.normal(0, s * 0.15, 3)
                dets.append(_det(img_id, cat, x + dx, y + dy, s + ds, rng.uniform(0.05, 1)))
        for _ in range(4):
            dets.append(_det(img_id, int(rng.integers(1, 3)), *rng.uniform(0, 100, 2),
                             rng.uniform(5, 30), rng.uniform(0.05, 1)))  # fmt: skip
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}  # fmt: skip
    return gt, dets


def _det(img_id, cat, x, y, s, score) -> dict:
    s = max(s, 2.0)
    mask = np.zeros((1, 120, 160), bool)
    mask[0, max(int(y), 0) : int(y + s), max(int(x), 0) : int(x + s)] = True
    return {"image_id": img_id, "category_id": cat, "bbox": [x, y, s, s], "score": score,
            "segmentation": masks_to_rle(mask)[0]}  # fmt: skip


def _ap50_from(tp: set[int], coco_gt: COCO, coco_dt: COCO, cat: int) -> float:
    dts = sorted((a for a in coco_dt.anns.values() if a["category_id"] == cat),
                 key=lambda a: (-a["score"], a["id"]))  # fmt: skip
    flags = np.array([a["id"] in tp for a in dts], float)
    n_gt = sum(a["category_id"] == cat for a in coco_gt.anns.values())
    recall = np.cumsum(flags) / n_gt
    precision = np.cumsum(flags) / np.arange(1, len(flags) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope
    at = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in at]))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_at_50_reproduce_coco_ap50(iou_type: str, seed: int) -> None:
    gt, dets = _scene(seed)
    coco_gt = COCO(gt)
    coco_dt = coco_gt.loadRes([dict(d) for d in dets])
    quiet = lambda *a: None  # noqa: E731
    ev = COCOeval_faster(coco_gt, coco_dt, iou_type, extra_calc=True, print_function=quiet)
    ev.evaluate()
    ev.accumulate()
    tp = _true_positives_at_50(ev.eval["matched"], coco_gt, coco_dt)
    matched_gts = [g for k in ev.eval["matched"] for g in [k.split("_")[1]]]
    assert len(matched_gts) > len(set(matched_gts))  # several detections per object
    assert len(tp) <= len(gt["annotations"])
    for k, cat in enumerate(ev.params.catIds):
        coco_ap50 = float(ev.eval["precision"][0, :, k, 0, -1].mean())
        assert _ap50_from(tp, coco_gt, coco_dt, cat) == pytest.approx(coco_ap50, abs=1e-9)
    result = evaluate_coco(gt, dets, iou_type=iou_type)
    assert 0 < result.recall <= 1 and all(c["recall"] <= 1 for c in result.per_class)
