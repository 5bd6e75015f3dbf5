"""Issue 19: compare's bootstrap section from the models' saved per-image records (the official
yolov5n predictions on coco128, and the same with jittered boxes)."""

from __future__ import annotations

import gzip
import json

import numpy as np
from conftest import shared_path

from yoloarena.bench.significance import TITLE, bootstrap_section, compare_bootstrap, verdict_lines
from yoloarena.eval.bootstrap import NO_DIFFERENCE, ClassifyRecords, coco_records
from yoloarena.eval.coco import evaluate_coco


def _saved(tmp_path, name: str, gt: dict, preds: list[dict]) -> dict:
    path = tmp_path / f"{name}.npz"
    coco_records(gt, preds).save(path)
    return {"model": name, "records": {"bbox": str(path)}}


def test_compare_bootstrap_section_and_verdict(tmp_path) -> None:
    gt_path = shared_path("data", "coco128", "annotations", "instances_train2017_from_yolo.json")
    gt = json.loads(gt_path.read_text())
    with gzip.open(shared_path("reference", "yolov5n_coco128_val_predictions.json.gz")) as f:
        preds = json.load(f)
    rng = np.random.default_rng(0)
    jittered = []
    for d in preds:
        x, y, w, h = d["bbox"]
        dx, dy = rng.normal(0, 0.12, 2) * [w, h]
        jittered.append({**d, "bbox": [x + dx, y + dy, w, h]})
    results = [_saved(tmp_path, "jittered", gt, jittered), _saved(tmp_path, "yolov5n", gt, preds),
               {"model": "old", "records": None}]  # fmt: skip
    summary = compare_bootstrap(results, 400, 3, tmp_path)
    assert json.loads((tmp_path / "bootstrap.json").read_text())["verdicts"] == summary["verdicts"]
    assert summary["missing"] == ["old"] and summary["images"] == 128
    point = evaluate_coco(gt, preds).stats
    ours = summary["models"]["yolov5n"]["AP"]
    assert abs(ours["value"] - point["AP"]) <= 1e-9
    assert ours["interval"][0] < point["AP"] < ours["interval"][1]
    diff = summary["differences"]["AP"]
    assert (diff["a"], diff["b"], diff["better"]) == ("yolov5n", "jittered", True)
    md = "\n".join(bootstrap_section(summary))
    assert f"## {TITLE}" in md and "400 resamples (seed 3)" in md
    lo, hi = ours["interval"]
    assert f"| yolov5n | {ours['value']:.4f} [{lo:.4f}, {hi:.4f}] |" in md
    assert "Not resampled (no per-image records): old." in md
    assert verdict_lines(summary) == [  # (these values are far from 0: four decimals)
        f"Top two, paired bootstrap: yolov5n is better than jittered (AP difference "
        f"{diff['difference']:+.4f}, 95% interval [{diff['interval'][0]:+.4f}, "
        f"{diff['interval'][1]:+.4f}])."
    ]
    same = compare_bootstrap([results[1], {**results[1], "model": "copy"}], 200, 0, tmp_path)
    assert NO_DIFFERENCE in same["verdicts"][0] and not same["differences"]["AP"]["better"]
    assert compare_bootstrap(results, 0, 0, tmp_path) is None  # bootstrap=0: off
    assert "Bootstrap off" in "\n".join(bootstrap_section(None))


def test_compare_bootstrap_refuses_unpaired_models(tmp_path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    ClassifyRecords(np.ones(5, bool), np.ones(5, bool)).save(a)
    ClassifyRecords(np.ones(7, bool), np.ones(7, bool)).save(b)
    results = [{"model": "a", "records": {"classify": str(a)}},
               {"model": "b", "records": {"classify": str(b)}}]  # fmt: skip
    summary = compare_bootstrap(results, 100, 0, tmp_path)
    assert not summary["models"] and "different numbers of images" in summary["error"]
    assert "different numbers of images" in "\n".join(bootstrap_section(summary))
