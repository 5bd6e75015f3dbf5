"""Issue 3, must-show 2: the official yolov5n.pt on coco128 reproduces the official numbers."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from conftest import shared_json, shared_path

from yoloarena.cli import main
from yoloarena.ops.letterbox import rect_batches


def test_official_ap_and_prediction_count(yolov5n_coco128_val) -> None:
    ref = shared_json("reference", "yolov5n_val_coco128.json")
    stats = yolov5n_coco128_val.metrics.stats
    assert ref["settings"]["iou_thres"] == 0.6 and ref["settings"]["conf_thres"] == 0.001
    assert stats["AP"] == pytest.approx(0.3622, abs=0.003)
    assert stats["AP50"] == pytest.approx(0.5637, abs=0.003)
    with gzip.open(shared_path("reference", "yolov5n_coco128_val_predictions.json.gz")) as f:
        official = json.load(f)
    ours = yolov5n_coco128_val.predictions
    assert len(ours) == pytest.approx(len(official), rel=0.01)
    per_image = {}
    for p in official:
        per_image[p["image_id"]] = per_image.get(p["image_id"], 0) + 1
    for p in ours:
        per_image[p["image_id"]] = per_image.get(p["image_id"], 0) - 1
    assert sum(abs(v) for v in per_image.values()) <= 0.01 * len(official)
    assert {p["category_id"] for p in ours} <= set(range(80))  # dataset ids (YOLO: index)


def test_val_protocol_recorded(yolov5n_coco128_val) -> None:
    proto = yolov5n_coco128_val.protocol
    assert (proto["conf"], proto["iou"], proto["max_det"], proto["pad"]) == (0.001, 0.6, 300, 0.5)
    assert proto["multi_label"] and proto["rect"] and proto["imgsz"] == 640
    cm = yolov5n_coco128_val.confusion.matrix
    assert cm.shape == (81, 81) and cm[:80, :80].trace() > 400


def test_rect_batches_follow_the_official_rule() -> None:
    shapes = np.array([[480, 640], [640, 480], [427, 640], [640, 640], [500, 375]])
    batches = rect_batches(shapes, 2, 640, 32, pad=0.5)
    assert [sorted(idx.tolist()) for idx, _ in batches] == [[0, 2], [1, 3], [4]]
    # wide batch: h/w max 0.75 -> ceil(0.75 * 20 + 0.5) * 32 = 512; then square; then tall
    assert [shape for _, shape in batches] == [(512, 672), (672, 672), (672, 512)]


def test_val_cli_writes_results(tmp_path, capsys) -> None:
    weights = shared_path("data", "weights", "yolov5n.pt")
    data = shared_path("data", "coco128", "coco128.yaml")
    args = ["val", f"model={weights}", f"data={data}", "imgsz=320", "batch=64",
            f"project={tmp_path}", "name=v"]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "v"
    results = json.loads((out / "results.json").read_text())
    assert 0.2 < results["stats"]["AP50"] < 0.6 and results["protocol"]["imgsz"] == 320
    assert results["timings_s"]["scoring"] > 0 and len(results["per_class"]) == 71
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds) == results["predictions"]
    for png in (
        "PR_curve.png",
        "F1_curve.png",
        "P_curve.png",
        "R_curve.png",
        "confusion_matrix.png",
    ):
        assert (out / png).stat().st_size > 10_000, png
    assert main(["val", f"model={weights}"]) == 1
    assert "val needs data=" in capsys.readouterr().err
