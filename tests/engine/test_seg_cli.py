"""The CLI takes the task from the model: `train model=yolov5n-seg` trains with masks (the
detector's weights as a start with pretrained=, the skipped tensors named), `val` scores masks,
`predict` draws and saves them (retina_masks=True too); fraction= keeps polygons with boxes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import shared_path

from yoloarena.cli import main
from yoloarena.data.load import load_dataset
from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine.train_job import _subset


@pytest.fixture(scope="module")
def tiny_seg(tmp_path_factory):
    spec = SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2, max_objects=3, seed=1,
                     task="segment")  # fmt: skip
    return make_synthetic(tmp_path_factory.mktemp("tiny-seg"), spec)


@pytest.mark.slow
def test_cli_trains_validates_and_predicts_a_segmenter(tiny_seg, tmp_path, capsys) -> None:
    detector = shared_path("data", "weights", "yolov5n.pt")
    args = ["train", "model=yolov5n-seg", f"pretrained={detector}", f"data={tiny_seg}",
            "epochs=1", "imgsz=64", "batch=4", "workers=0", "plots=False",
            f"project={tmp_path}", "name=train"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "initialising yolov5n-seg from" in err and "6 skipped" in err
    assert "model.24.m.0.weight" in err  # the head's convolutions are named
    run = tmp_path / "train"
    with (run / "results.csv").open() as f:
        row = next(csv.DictReader(f))
    assert {"train/seg", "metrics/mask_AP50", "metrics/mask_AP"} <= set(row)
    best = run / "weights" / "best.pt"

    assert main(["val", f"model={best}", f"data={tiny_seg}", "imgsz=64",
                 f"project={tmp_path}", "name=val"]) == 0  # fmt: skip
    summary = json.loads((tmp_path / "val" / "results.json").read_text())
    assert "stats" in summary and "AP50" in summary["mask"]["stats"]
    assert "Mask(P" in capsys.readouterr().err

    images = tiny_seg.parent / "images" / "val"
    for name, retina in (("plain", False), ("retina", True)):
        assert main(["predict", f"model={best}", f"source={images}", "imgsz=64", "conf=0.001",
                     "max_det=5", "save_txt=True", f"retina_masks={retina}",
                     f"project={tmp_path}", f"name={name}"]) == 0  # fmt: skip
    for name in ("plain", "retina"):
        records = json.loads((tmp_path / name / "predictions.json").read_text())
        dets = [d for r in records for d in r["detections"]]
        assert dets and all(d["segmentation"]["size"] == [64, 64] for d in dets)
        for txt in (tmp_path / name / "labels").glob("*.txt"):
            for line in txt.read_text().splitlines():
                values = line.split()
                assert len(values) >= 7 and len(values) % 2 == 1  # class + polygon points
    plain = json.loads((tmp_path / "plain" / "predictions.json").read_text())
    retina = json.loads((tmp_path / "retina" / "predictions.json").read_text())
    masks = lambda rec: [d["segmentation"]["counts"] for r in rec for d in r["detections"]]  # noqa: E731
    assert masks(plain) != masks(retina)  # upsample-then-crop differs at the edges


def test_fraction_keeps_each_polygon_with_its_box(tiny_seg) -> None:
    data = load_dataset(str(tiny_seg), "train")
    part = _subset(data, 0.5, seed=3)
    assert len(part) == 4 and part.has_segments
    for j in range(len(part.boxes)):
        poly = part.segment(j)
        bounds = np.concatenate((poly.min(0), poly.max(0)))
        np.testing.assert_allclose(bounds, part.boxes[j], atol=1.0)
    kept = [data.files.index(f) for f in part.files]
    assert part.targets(0).segments[0].tolist() == data.targets(kept[0]).segments[0].tolist()
