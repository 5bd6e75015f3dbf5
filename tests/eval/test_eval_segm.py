"""Issue 15, must-show 4: mask AP (COCO `segm`) reproduces the pycocotools fixture; RLE encoding
of our masks goes through faster-coco-eval's mask utils."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_json, shared_path
from faster_coco_eval.core import mask as mask_utils

from yoloarena.data.polygons import polygon_mask
from yoloarena.eval.coco import STAT_NAMES, evaluate_coco, masks_to_rle


def test_segm_fixture_reproduced() -> None:
    fx = shared_json("reference", "cocoeval", "expected_segm_stats.json")["fixtures"]
    case = fx["val2014_fake100_segm"]
    folder = shared_path("reference", "cocoeval")
    result = evaluate_coco(folder / case["gt"], folder / case["dt"], iou_type="segm")
    assert list(result.stats) == list(STAT_NAMES)
    worst = max(abs(result.stats[k] - v) for k, v in case["stats"].items())
    print(f"segm fixture: max |diff| {worst:.3g}")
    for key, expected in case["stats"].items():
        assert result.stats[key] == pytest.approx(expected, abs=1e-4), key
    assert result.per_class and all(0 <= c["AP"] <= 1 for c in result.per_class)
    # the same results scored as boxes (loadRes derives each box from its mask)
    as_bbox = fx["val2014_fake100_segm_results_as_bbox"]
    boxes = evaluate_coco(folder / as_bbox["gt"], folder / as_bbox["dt"], iou_type="bbox")
    for key, expected in as_bbox["stats"].items():
        assert boxes.stats[key] == pytest.approx(expected, abs=1e-4), key


def decode(rles: list[dict]) -> np.ndarray:
    """[N, H, W] bool from our json-ready RLEs (faster-coco-eval decodes bytes counts)."""
    raw = [{**r, "counts": r["counts"].encode()} for r in rles]
    return mask_utils.decode(raw).transpose(2, 0, 1).astype(bool)


def test_masks_to_rle_round_trip() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((3, 37, 51)) > 0.6
    masks[2] = False
    rles = masks_to_rle(masks)
    json.dumps(rles)  # json-ready: counts are str
    assert [r["size"] for r in rles] == [[37, 51]] * 3
    assert np.array_equal(decode(rles), masks)
    assert mask_utils.area(rles).tolist() == masks.reshape(3, -1).sum(1).tolist()
    assert masks_to_rle(np.zeros((0, 5, 5), bool)) == []


def test_ground_truth_masks_as_predictions_score_one() -> None:
    """Polygon ground truth rasterised, RLE-encoded and submitted back: mask AP 1; the same
    masks shifted by 12 px score far lower."""
    polys = [np.array([[10, 10], [60, 12], [40, 50]], float),
             np.array([[70, 20], [110, 20], [110, 70], [70, 70]], float)]  # fmt: skip
    annotations = [
        {"id": i + 1, "image_id": 1, "category_id": 5, "iscrowd": 0,
         "segmentation": [p.ravel().tolist()], "area": float(polygon_mask(p, (96, 128)).sum()),
         "bbox": [*p.min(0), *(p.max(0) - p.min(0))]}
        for i, p in enumerate(polys)
    ]  # fmt: skip
    gt = {"images": [{"id": 1, "width": 128, "height": 96}],
          "categories": [{"id": 5, "name": "a"}], "annotations": annotations}  # fmt: skip
    gt_rles = [mask_utils.frPyObjects(a["segmentation"], 96, 128)[0] for a in annotations]
    masks = mask_utils.decode(gt_rles).transpose(2, 0, 1).astype(bool)

    def mask_ap(m: np.ndarray) -> float:
        dets = [{"image_id": 1, "category_id": 5, "segmentation": r, "score": 0.9}
                for r in masks_to_rle(m)]  # fmt: skip
        return evaluate_coco(gt, dets, iou_type="segm").stats["AP"]

    assert mask_ap(masks) == pytest.approx(1.0)
    assert mask_ap(np.roll(masks, 12, axis=2)) < 0.5
