"""Validation of a segmentation model: box AP and mask AP in results.json and in the printed
table, both per class, mask plots, and the mask AP checked against pycocotools' own segm
evaluation of the written predictions (independent of faster-coco-eval).

Measured (yolov5n-seg of the learning test): largest difference over the 12 COCO stats between
yoloarena and pycocotools: 0.0 for bbox and 0.0 for segm (the same numbers).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging

import numpy as np
import pytest
from conftest import require
from training import seg_shapes_dataset, trained_seg_run

from yoloarena.engine.val_job import ValConfig, run_val
from yoloarena.eval.coco import STAT_NAMES


def _pycocotools_stats(gt: dict, predictions: list[dict], iou_type: str) -> np.ndarray:
    coco = require("pycocotools.coco", "the independent COCO evaluation")
    cocoeval = require("pycocotools.cocoeval")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco.COCO()
        coco_gt.dataset = json.loads(json.dumps(gt))
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(json.loads(json.dumps(predictions)))
        ev = cocoeval.COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats)


@pytest.mark.slow
def test_val_scores_boxes_and_masks(tmp_path, caplog) -> None:
    from yoloarena.data.load import load_dataset

    weights = trained_seg_run() / "weights" / "best.pt"
    data = seg_shapes_dataset()
    cfg = ValConfig(model=str(weights), data=str(data), imgsz=128, project=str(tmp_path))
    with caplog.at_level(logging.INFO, logger="yoloarena"):
        out, result = run_val(cfg)
    summary = json.loads((out / "results.json").read_text())
    assert summary["protocol"]["conf"] == 0.001 and summary["protocol"]["iou"] == 0.6
    assert summary["protocol"]["max_det"] == 300
    box, mask = summary["stats"], summary["mask"]["stats"]
    assert mask["AP50"] > 0.3 and box["AP50"] > 0.3
    assert [c["name"] for c in summary["mask"]["per_class"]] == ["circle", "square", "triangle"]
    assert all(0 <= c["recall"] <= 1 for c in summary["mask"]["per_class"])
    log = caplog.text
    assert "Mask(P" in log and "box AP" in log and "mask AP" in log
    for name in ("MaskPR_curve.png", "MaskF1_curve.png", "PR_curve.png", "val_batch0_pred.jpg",
                 "val_batch0_labels.jpg", "predictions.json"):  # fmt: skip
        assert (out / name).is_file(), name

    # the same predictions, scored by pycocotools
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions and all("segmentation" in p for p in predictions)
    gt = load_dataset(str(data), "val").to_coco()
    diffs = {}
    for iou_type, ours in (("bbox", box), ("segm", mask)):
        reference = _pycocotools_stats(gt, predictions, iou_type)
        ours_arr = np.array([ours[k] for k in STAT_NAMES])
        diffs[iou_type] = float(np.abs(ours_arr - reference).max())
    print("largest stat difference vs pycocotools:", diffs)
    assert diffs["bbox"] <= 1e-4 and diffs["segm"] <= 1e-4, diffs
    assert result.mask_metrics.stats["AP"] == pytest.approx(mask["AP"])
