"""Issue 3, must-show 1 and 3: the evaluator reproduces pycocotools; YOLO and COCO sources agree."""

from __future__ import annotations

import contextlib
import gzip
import io
import json

import pytest
from conftest import shared_json, shared_path

from yoloarena.data.coco_classes import COCO80_TO_91
from yoloarena.eval.coco import STAT_NAMES, evaluate_coco


@pytest.mark.parametrize("fixture", ["val2014_fake100_bbox", "tiny_gt_dt_bbox"])
def test_cocoeval_fixtures(fixture: str) -> None:
    fx = shared_json("reference", "cocoeval", "expected_bbox_stats.json")["fixtures"][fixture]
    folder = shared_path("reference", "cocoeval")
    result = evaluate_coco(folder / fx["gt"], folder / fx["dt"])
    for key, expected in fx["stats"].items():
        assert result.stats[key] == pytest.approx(expected, abs=1e-4), key
    assert list(result.stats) == list(STAT_NAMES)


def official_predictions() -> list[dict]:
    path = shared_path("reference", "yolov5n_coco128_val_predictions.json.gz")
    with gzip.open(path) as f:
        return json.load(f)


def test_official_predictions_give_official_ap() -> None:
    gt = shared_path("data", "coco128", "annotations", "instances_train2017_from_yolo.json")
    result = evaluate_coco(gt, official_predictions())
    ref = shared_json("reference", "yolov5n_val_coco128.json")
    assert result.stats["AP"] == pytest.approx(0.3622, abs=1e-4)
    assert result.stats["AP50"] == pytest.approx(0.5637, abs=1e-4)
    assert len(result.per_class) == 71  # classes with ground truth in coco128
    assert 0 < result.precision < 1 and 0 < result.recall < 1
    assert ref  # the reference file is there and parsed


def test_same_as_pycocotools_on_coco128(coco128_json) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    preds = official_predictions()
    gt = coco128_json.to_coco()
    ours = evaluate_coco(gt, preds)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(preds), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for name, value in zip(STAT_NAMES, ev.stats, strict=True):
        assert ours.stats[name] == pytest.approx(value, abs=1e-12), name


def test_yolo_txt_and_coco_json_give_same_ap(coco128_yolo, coco128_json) -> None:
    assert coco128_yolo.image_ids.tolist() == coco128_json.image_ids.tolist()
    assert coco128_yolo.labels.tolist() == coco128_json.labels.tolist()
    preds = official_predictions()  # COCO category ids, as the json dataset uses
    to_index = {cid: i for i, cid in enumerate(COCO80_TO_91)}
    as_index = [p | {"category_id": to_index[p["category_id"]]} for p in preds]
    from_json = evaluate_coco(coco128_json.to_coco(), preds).stats
    from_yolo = evaluate_coco(coco128_yolo.to_coco(), as_index).stats
    for key in STAT_NAMES:
        assert from_yolo[key] == pytest.approx(from_json[key], abs=1e-6), key


def test_empty_predictions_score_zero(coco128_yolo) -> None:
    result = evaluate_coco(coco128_yolo.to_coco(), [])
    assert result.stats["AP"] == 0.0 and result.per_class == []


def test_predictions_are_not_modified(coco128_yolo) -> None:
    preds = [{"image_id": int(coco128_yolo.image_ids[0]), "category_id": 0,
              "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.9}]  # fmt: skip
    evaluate_coco(coco128_yolo.to_coco(), preds)
    assert set(preds[0]) == {"image_id", "category_id", "bbox", "score"}
