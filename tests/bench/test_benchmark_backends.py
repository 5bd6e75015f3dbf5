"""Issue 17, must-show 5: `benchmark ... backends=torch,onnx,onnx-int8,openvino,openvino-int8
data=coco128` writes an AP column per backend, each measured by running that backend's file."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import shared_path

from yoloarena.bench.latency import parse_backends
from yoloarena.errors import YoloArenaError

pytest.importorskip("openvino", reason="the [export] extra is not installed")
BACKENDS = ["torch", "onnx", "onnx-int8", "openvino", "openvino-int8"]


@pytest.mark.slow
def test_benchmark_measures_ap_per_backend(tmp_path) -> None:
    """imgsz 320 (CI time); official yolov5n on coco128, INT8 calibrated on its train split."""
    from yoloarena.cli import main

    weights = shared_path("data", "weights", "yolov5n.pt")
    data = shared_path("data", "coco128", "coco128.yaml")
    args = ["benchmark", f"models={weights}", f"data={data}", "imgsz=320", "runs=2", "warmup=1",
            "backends=" + ",".join(BACKENDS), f"project={tmp_path}", "name=b"]  # fmt: skip
    assert main(args) == 0
    with (tmp_path / "b" / "results.csv").open() as f:
        row = next(csv.DictReader(f))
    ap = {b: float(row[f"{b}_AP"]) for b in BACKENDS}
    assert all(0.15 < v < 0.5 for v in ap.values()), ap
    # FP32 files compute what PyTorch computes: the same AP (an independent runtime each)
    assert abs(ap["onnx"] - ap["torch"]) < 0.002 and abs(ap["openvino"] - ap["torch"]) < 0.002
    # INT8 rows are their own files, run in int8, not copies of the FP32 figures
    assert row["onnx-int8_precision"] == "int8" and row["onnx_precision"] == "fp32"
    assert row["openvino-int8_precision"].startswith("int8 IR")
    assert row["openvino_precision"] == "fp32 IR, f32 compute"
    payload = json.loads((tmp_path / "b" / "results.json").read_text())
    files = {b: m["file"] for b, m in payload["models"][0]["backend_metrics"].items()}
    assert files["torch"] == "PyTorch" and len(set(files.values())) == len(BACKENDS)
    assert "int8" in files["onnx-int8"] and "int8" in files["openvino-int8"]
    table = (tmp_path / "b" / "results.md").read_text()
    assert all(f"{b} AP50-95" in table for b in BACKENDS)


def test_backend_names_and_int8_needs_data() -> None:
    assert parse_backends("torch,ort,openvino-bf16,tflite-int8") == [
        "torch", "onnx", "openvino-bf16", "tflite-int8",
    ]  # fmt: skip
    with pytest.raises(YoloArenaError, match="unknown backend 'onnx-int4'"):
        parse_backends("onnx-int4")
    from pathlib import Path

    from yoloarena.bench.latency import build_backends
    from yoloarena.registry import build_model

    with pytest.raises(YoloArenaError, match="need data=<dataset yaml>"):
        build_backends(build_model("yolov5n"), ["onnx-int8"], 64, Path("."))
