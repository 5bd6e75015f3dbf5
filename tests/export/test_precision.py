"""Issue 17: OpenVINO's inference precision is a runtime choice (f32, bf16 where the CPU has it),
recorded with the result."""

from __future__ import annotations

import json

import pytest
from conftest import shared_path

import yoloarena
from yoloarena.errors import YoloArenaError

ov = pytest.importorskip("openvino", reason="the [export] extra is not installed")
BF16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.mark.slow
@pytest.mark.skipif(not BF16, reason="this CPU has no bf16 compute (AVX512-BF16 or AMX)")
def test_val_in_bf16_is_recorded_and_close_to_f32(yolov5n_official, tmp_path) -> None:
    from yoloarena.cli import main

    path = yolov5n_official.export("openvino", imgsz=320, file=tmp_path / "v5n")
    data = shared_path("data", "coco128", "coco128.yaml")
    ap = {}
    for precision in ("f32", "bf16"):
        args = ["val", f"model={path}", f"data={data}", "imgsz=320", f"precision={precision}",
                "plots=False", f"project={tmp_path}", f"name={precision}"]  # fmt: skip
        assert main(args) == 0
        res = json.loads((tmp_path / precision / "results.json").read_text())
        assert res["compute"] == f"fp32 IR, {precision} compute"
        ap[precision] = res["stats"]["AP"]
    assert abs(ap["bf16"] - ap["f32"]) < 0.01 and ap["f32"] > 0.2, ap


def test_precision_is_for_openvino_files(yolov5n_official, tmp_path) -> None:
    weights = shared_path("data", "weights", "yolov5n.pt")
    with pytest.raises(YoloArenaError, match="precision=bf16 applies to exported OpenVINO files"):
        yoloarena.load(weights, precision="bf16")
    path = yolov5n_official.export("torchscript", imgsz=64, file=tmp_path / "m.torchscript")
    with pytest.raises(YoloArenaError, match="precision=bf16 applies to OpenVINO files"):
        yoloarena.load(path, precision="bf16")
