"""Issue 17, must-show 3: CoreML (.mlpackage) of yolov5n and damoyolo-t is written and its spec
has the documented input, outputs and metadata. The numeric parity check needs macOS (CoreML
models only run there): off macOS the export ends with the structural check and says so; the
numeric test below runs on macOS only."""

from __future__ import annotations

import copy
import json
import platform

import pytest
import torch
from conftest import shared_path

import yoloarena
from yoloarena.data.images import read_image
from yoloarena.errors import YoloArenaError
from yoloarena.export import export_model
from yoloarena.registry import build_model

ct = pytest.importorskip("coremltools", reason="the [edge] extra is not installed")
MACOS = platform.system() == "Darwin"
SIZE = 160


def model_of(name: str):
    if name == "yolov5n":
        return yoloarena.load(shared_path("data", "weights", "yolov5n.pt"))
    return yoloarena.ArenaModel(build_model(name).eval())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolov5n", "damoyolo-t"])
def test_coreml_spec_has_the_documented_contract(name: str, tmp_path) -> None:
    model = model_of(name)
    result = export_model(model, "coreml", imgsz=SIZE, file=tmp_path / name)
    assert result.path.suffix == ".mlpackage" and result.path.is_dir()
    if not MACOS:
        assert "numeric parity check needs macOS" in result.check_line()
    spec = ct.utils.load_spec(str(result.path))  # coremltools itself, not our reader
    assert spec.WhichOneof("Type") == "mlProgram"
    inputs = {f.name: list(f.type.multiArrayType.shape) for f in spec.description.input}
    outputs = {f.name: list(f.type.multiArrayType.shape) for f in spec.description.output}
    n = sum((SIZE // s) ** 2 for s in model.stride) * (3 if name == "yolov5n" else 1)
    assert inputs == {"images": [1, 3, SIZE, SIZE]}
    want = {"boxes": [1, n, 4], "scores": [1, n, 80]}
    if name == "yolov5n":
        want["objectness"] = [1, n]
    assert outputs == want and list(outputs) == list(want)
    float32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    assert all(f.type.multiArrayType.dataType == float32 for f in spec.description.output)
    meta = spec.description.metadata.userDefined
    assert json.loads(meta["names"])["0"] == "person" and meta["stride"] == "32"
    stored = json.loads(meta["yoloarena"])
    assert stored["family"] == model.family and stored["imgsz"] == [SIZE, SIZE]
    assert stored["preprocess"]["resize"] == ("letterbox" if name == "yolov5n" else "stretch")


@pytest.mark.slow
def test_coreml_fp16_compute_is_recorded(tmp_path) -> None:
    path = yoloarena.ArenaModel(build_model("yolov5n").eval()).export(
        "coreml", imgsz=64, half=True, file=tmp_path / "h"
    )
    spec = ct.utils.load_spec(str(path))
    assert json.loads(spec.description.metadata.userDefined["yoloarena"])["half"] is True
    ops = str(spec.mlProgram)
    assert "fp16" in ops.lower() or "FLOAT16" in ops


@pytest.mark.skipif(MACOS, reason="off macOS only: CoreML cannot run here")
def test_coreml_file_says_it_needs_macos(tmp_path) -> None:
    path = yoloarena.ArenaModel(build_model("yolov5n").eval()).export(
        "coreml", imgsz=64, file=tmp_path / "m"
    )
    with pytest.raises(YoloArenaError, match="runs only on macOS"):
        yoloarena.load(path)


@pytest.mark.skipif(not MACOS, reason="CoreML models run only on macOS")
def test_coreml_numeric_parity_on_macos(yolov5n_official, tmp_path) -> None:
    from yoloarena.export.check import parity_input
    from yoloarena.export.graph import ExportGraph

    result = export_model(yolov5n_official, "coreml", imgsz=SIZE,
                                           file=tmp_path / "m")  # fmt: skip
    assert result.parity.ok and result.parity.max_abs  # the numeric check ran
    runtime = yoloarena.load(result.path)
    img = read_image(shared_path("data", "images", "zidane.jpg"))
    x = parity_input(yolov5n_official, img, (SIZE, SIZE), 1)
    with torch.inference_mode():
        ref = ExportGraph(copy.deepcopy(yolov5n_official).deploy()).eval()(x)
    for r, g in zip(ref, runtime.session(x), strict=True):
        assert ((g - r).abs() <= 1e-3 * r.abs() + 1e-3 * r.abs().max()).all()
