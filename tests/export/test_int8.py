"""Issue 17, must-show 1: INT8 OpenVINO (NNCF) and ONNX (ONNX Runtime QDQ) files run through val
and keep their AP: official yolov5n on coco128 (calibrated on coco128 train) within 0.02 of the
FP32 file, a DAMO-YOLO trained briefly on the synthetic shapes within 0.03."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
from conftest import shared_path
from training import shapes_dataset

import yoloarena
from yoloarena.engine.validator import validate
from yoloarena.errors import YoloArenaError
from yoloarena.export import export_model
from yoloarena.export.quantize import final_convs, tail_nodes

pytest.importorskip("onnxruntime", reason="the [export] extra is not installed")


def quantised_ops(path: Path, fmt: str) -> int:
    """Quantise nodes in the file, read with the format's own library (not our code)."""
    if fmt == "onnx":
        import onnx

        return sum(n.op_type == "QuantizeLinear" for n in onnx.load(str(path)).graph.node)
    import openvino as ov

    model = ov.Core().read_model(str(path / "model.xml"))
    return sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


def check_int8(model, fmt: str, data: Path, imgsz: int, tmp: Path, max_drop: float) -> dict:
    result = export_model(model, fmt, imgsz=imgsz, int8=True, data=data, file=tmp / f"q_{fmt}")
    acc = result.accuracy
    assert result.meta["int8"] and result.meta["quantization"]["images"] > 0
    assert quantised_ops(result.path, fmt) > 20  # really quantised, not an FP32 copy
    runtime = yoloarena.load(result.path)  # the saved file, through the public API
    assert runtime.precision.startswith("int8")
    again = validate(runtime, _val_split(str(data)), imgsz, 16, runtime.eval_protocol)
    assert abs(again.metrics.stats["AP"] - acc["int8_AP"]) < 1e-6
    assert acc["fp32_AP"] - acc["int8_AP"] <= max_drop, acc
    return acc


@functools.cache
def _val_split(data: str):
    from yoloarena.data.load import load_dataset

    return load_dataset(data, "val")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_int8_official_yolov5n_on_coco128(fmt: str, yolov5n_official, tmp_path) -> None:
    """imgsz 640, calibrated on the 128 coco128 train images (square 640 input, YOLOv5's val
    protocol). Measured here: ONNX AP 0.3566 (FP32 file) -> 0.3436 (INT8), drop 0.0130;
    OpenVINO 0.3566 -> 0.3509, drop 0.0057."""
    data = shared_path("data", "coco128", "coco128.yaml")
    acc = check_int8(yolov5n_official, fmt, data, 640, tmp_path, 0.02)
    assert acc["fp32_AP"] > 0.34  # the FP32 file is the official model (0.3566 here)


@functools.cache
def trained_damo() -> Path:
    """damoyolo-t trained from scratch for 10 epochs on the shapes set (once per process)."""
    from yoloarena.engine.train_job import TrainConfig, run_train

    project = Path(tempfile.mkdtemp(prefix="yoloarena-damo-int8-"))
    cfg = TrainConfig(model="damoyolo-t", data=str(shapes_dataset()), epochs=10, imgsz=160,
                      batch=8, workers=2, project=str(project), name="t", plots=False)  # fmt: skip
    hyp = {"optimizer": "AdamW", "lr0": 0.002, "weight_decay": 0.0005, "warmup_epochs": 1.0,
           "no_aug_epochs": 3, "scale_range": "0.5,1.5", "mixup": 0.0, "mosaic": 0.5,
           "mosaic_size": 0}  # fmt: skip
    return run_train(cfg, hyp) / "weights" / "best.pt"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_int8_damoyolo_trained_on_shapes(fmt: str, tmp_path) -> None:
    """imgsz 160, calibrated on the 200 shapes train images. The drop was not measured when this
    was written (the shared machine trained at 28 minutes per epoch); the bound is the issue's."""
    model = yoloarena.load(trained_damo())
    acc = check_int8(model, fmt, shapes_dataset(), 160, tmp_path, 0.03)
    assert acc["fp32_AP50"] > 0.1  # it learned something, so the drop means something


def test_tail_is_what_follows_the_last_convolution() -> None:
    # conv1 -> act -> conv2 -> sigmoid -> mul(grid) -> out; conv1 -> skip add -> conv2
    nodes = [
        ("conv1", "Conv", ["x"], ["a"]),
        ("act", "Relu", ["a"], ["b"]),
        ("add", "Add", ["a", "b"], ["c"]),
        ("conv2", "Conv", ["c"], ["d"]),
        ("grid", "Constant", [], ["g"]),
        ("sig", "Sigmoid", ["d"], ["e"]),
        ("mul", "Mul", ["e", "g"], ["y"]),
    ]
    tail = tail_nodes(nodes, {"Conv"})
    assert tail == {"grid", "sig", "mul"}
    assert final_convs(nodes, {"Conv"}, tail) == {"conv2"}


def test_int8_needs_data_and_a_format_that_has_it(yolov5n_official) -> None:
    with pytest.raises(YoloArenaError, match="int8=True needs data=<dataset yaml>"):
        yolov5n_official.export("onnx", int8=True)
    with pytest.raises(YoloArenaError, match="int8=True is for format=onnx, openvino"):
        yolov5n_official.export("torchscript", int8=True, data="x.yaml")


def test_openvino_precision_choice_follows_the_cpu() -> None:
    from yoloarena.export.runtime import inference_precision

    amx = ["FP32", "BF16", "INT8"]
    assert inference_precision(None, {"half": False}, amx) == "f32"  # pinned, not bf16
    assert inference_precision(None, {"half": True}, amx) == "f32"  # no FP16 compute here
    assert inference_precision(None, {"half": True}, [*amx, "FP16"]) == "f16"
    assert inference_precision("bf16", {}, amx) == "bf16"
    assert inference_precision("half", {}, amx) == "bf16"  # the CPU's 16-bit float
    assert inference_precision("half", {}, [*amx, "FP16"]) == "f16"
    with pytest.raises(YoloArenaError, match="precision=bf16 needs a CPU with BF16"):
        inference_precision("bf16", {}, ["FP32", "INT8"])
    with pytest.raises(YoloArenaError, match="precision=int4 is not one of f32, bf16, f16"):
        inference_precision("int4", {}, amx)
