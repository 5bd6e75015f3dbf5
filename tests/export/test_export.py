"""Issue 7: exports (ONNX, OpenVINO, TorchScript; TensorRT on CUDA) match PyTorch and run back
through the same predict/val API."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import require, shared_path
from recipe import recipe_state_dict

import yoloarena
from yoloarena import ArenaModel
from yoloarena.data.images import read_image
from yoloarena.errors import YoloArenaError
from yoloarena.export import export_model, load_exported
from yoloarena.export.check import parity_input
from yoloarena.export.graph import ExportGraph, output_names
from yoloarena.registry import build_model, list_models

ort = require("onnxruntime", "the [export] extra is not installed")
CUDA = torch.cuda.is_available()
RTOL, ATOL = 1e-4, 1e-4  # the bound: rtol 1e-4 plus atol 1e-4 x max|reference|


def image(name: str = "bus.jpg") -> Path:
    return shared_path("data", "images", name)


@functools.cache
def _fixture(name: str) -> dict | None:
    path = shared_path("reference") / "parity" / f"{name.replace('-', '_')}.pt"
    return torch.load(path, weights_only=True) if path.is_file() else None


def recipe_model(name: str):
    """The model with the parity-recipe weights when a fixture exists (non-degenerate outputs),
    else its random initialisation."""
    model = build_model(name).eval()
    fx = _fixture(name)
    if fx is not None:
        model.load_state_dict(recipe_state_dict(fx), strict=False)
    return ArenaModel(model)


def torch_outputs(model, x: torch.Tensor) -> list[torch.Tensor]:
    graph = ExportGraph(copy.deepcopy(model).deploy()).eval()
    with torch.inference_mode():
        return [t.float() for t in graph(x)]


def assert_close(ref: list[torch.Tensor], got: list, names: list[str], rtol=RTOL, atol=ATOL):
    for name, r, g in zip(names, ref, got, strict=True):
        g = torch.as_tensor(np.asarray(g)).float()
        assert g.shape == r.shape, name
        bound = rtol * r.abs() + atol * r.abs().max()
        err = (g - r).abs()
        assert (err <= bound).all(), f"{name}: max |diff| {err.max():.3g}"


def ort_run(path: Path, x: torch.Tensor) -> list[np.ndarray]:
    """onnxruntime directly (not through our runtime wrapper)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"images": x.numpy()})


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models(task="detect"))
def test_onnx_export_every_model_matches_pytorch(name: str, tmp_path) -> None:
    model = recipe_model(name)
    size = 192 if max(model.stride) == 64 else 160  # P6 models: the next multiple of 64
    out = export_model(model, "onnx", imgsz=size, file=tmp_path / "m.onnx", image=image())
    assert out.parity.ok and out.path.is_file()
    x = parity_input(model, read_image(image("zidane.jpg")), (size, size), 1)
    ref = torch_outputs(model, x)
    names = output_names(model, nms=False)
    assert [o.name for o in ort.InferenceSession(str(out.path)).get_outputs()] == names
    assert_close(ref, ort_run(out.path, x), names)


def same_detections(a, b, atol_px: float = 1e-3, atol_score: float = 1e-4) -> None:
    """Lists of Results (or (boxes, scores, labels)) with equal detections."""
    for ra, rb in zip(a, b, strict=True):
        ba, sa, la = (ra.boxes, ra.scores, ra.labels) if hasattr(ra, "boxes") else ra
        bb, sb, lb = (rb.boxes, rb.scores, rb.labels) if hasattr(rb, "boxes") else rb
        assert len(sa) == len(sb)
        oa, ob = (
            torch.as_tensor(sa).argsort(descending=True),
            torch.as_tensor(sb).argsort(descending=True),
        )
        assert torch.equal(torch.as_tensor(la)[oa].long(), torch.as_tensor(lb)[ob].long())
        assert torch.allclose(torch.as_tensor(ba)[oa].float(), torch.as_tensor(bb)[ob].float(),
                              atol=atol_px, rtol=0)  # fmt: skip
        assert torch.allclose(torch.as_tensor(sa)[oa].float(), torch.as_tensor(sb)[ob].float(),
                              atol=atol_score, rtol=0)  # fmt: skip


@pytest.mark.slow
def test_onnx_nms_detections_equal_predict_official_yolov5n(yolov5n_official, tmp_path) -> None:
    sources = [str(image("bus.jpg")), str(image("zidane.jpg"))]
    path = yolov5n_official.export(
        "onnx", imgsz=640, dynamic=True, nms=True, conf=0.25, iou=0.45, max_det=300,
        file=tmp_path / "v5n_nms.onnx", image=sources[0],
    )  # fmt: skip
    onnx_model = yoloarena.load(path)
    ref = yolov5n_official.predict(sources, conf=0.25, iou=0.45, max_det=300)
    got = onnx_model.predict(sources, conf=0.25, iou=0.45, max_det=300)
    assert sum(len(r.boxes) for r in ref) >= 6  # people, a bus, a tie...
    same_detections(ref, got)
    assert got[0].names == ref[0].names


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolov5n", "damoyolo-t", "damoyolo-ns"])
def test_onnx_nms_matches_pytorch_with_recipe_weights(name: str, tmp_path) -> None:
    model = recipe_model(name)
    size = 160
    x = parity_input(model, read_image(image()), (size, size), 1)
    x = torch.cat((x, x.flip(-1)))  # two different images in one batch
    net = copy.deepcopy(model).deploy()
    with torch.inference_mode():
        ref = net.postprocess(net(x), conf=0.05, iou=0.45, max_det=100)
    assert all(len(r[0]) > 0 for r in ref), "the recipe weights should give detections"
    path = model.export("onnx", imgsz=size, batch=2, nms=True, conf=0.05, iou=0.45, max_det=100,
                        file=tmp_path / "nms.onnx", image=image())  # fmt: skip
    num, boxes, scores, labels = ort_run(path, x)
    got = [(boxes[i, :n], scores[i, :n], labels[i, :n]) for i, n in enumerate(num.reshape(-1))]
    same_detections(ref, got, atol_px=1e-3 * size, atol_score=1e-5)


@pytest.fixture(scope="module")
def v5n_dynamic_onnx(tmp_path_factory) -> Path:
    model = yoloarena.load(shared_path("data", "weights", "yolov5n.pt"))
    out = tmp_path_factory.mktemp("onnx") / "yolov5n_dynamic.onnx"
    return model.export("onnx", imgsz=640, dynamic=True, file=out, image=image())


@pytest.mark.slow
def test_dynamic_batch_gives_the_same_per_image_outputs(v5n_dynamic_onnx: Path) -> None:
    model = yoloarena.load(v5n_dynamic_onnx)
    imgs = [read_image(image(n)) for n in ("bus.jpg", "zidane.jpg")]
    x = torch.cat([parity_input(model, im, (320, 320), 1) for im in imgs * 2])
    batched = ort_run(v5n_dynamic_onnx, x)
    for i in range(4):
        single = ort_run(v5n_dynamic_onnx, x[i : i + 1])
        for b, s in zip(batched, single, strict=True):
            np.testing.assert_allclose(b[i : i + 1], s, rtol=1e-5, atol=1e-5 * np.abs(s).max())
    assert not np.allclose(batched[0][0], batched[0][1])  # the two images differ


@pytest.mark.slow
def test_val_of_exported_onnx_equals_pytorch(v5n_dynamic_onnx, yolov5n_fused, coco128_yolo):
    from yoloarena.engine.validator import validate

    ref = validate(yolov5n_fused, coco128_yolo, 640, 32)
    got = validate(yoloarena.load(v5n_dynamic_onnx), coco128_yolo, 640, 32)
    assert got.protocol == ref.protocol  # rect batches, conf 0.001, iou 0.6 on both sides
    assert abs(got.metrics.stats["AP"] - ref.metrics.stats["AP"]) < 0.001
    assert abs(got.metrics.stats["AP50"] - ref.metrics.stats["AP50"]) < 0.001
    assert abs(len(got.predictions) - len(ref.predictions)) <= 0.001 * len(ref.predictions) + 2


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["openvino", "torchscript"])
@pytest.mark.parametrize("name", ["yolov5n", "damoyolo-t"])
def test_openvino_and_torchscript_match_pytorch(fmt: str, name: str, tmp_path) -> None:
    if fmt == "openvino":
        require("openvino", "the [export] extra is not installed")
    model = (
        yoloarena.load(shared_path("data", "weights", "yolov5n.pt"))
        if name == "yolov5n"
        else recipe_model(name)
    )
    path = model.export(fmt, imgsz=160, file=tmp_path / f"m_{fmt}", image=image())
    runtime = yoloarena.load(path)
    assert runtime.backend == fmt and runtime.names == model.names
    x = parity_input(model, read_image(image("zidane.jpg")), (160, 160), 1)
    assert_close(torch_outputs(model, x), runtime.session(x), output_names(model, False))
    res = runtime.predict(str(image()), conf=0.05)[0]  # the same predict API
    assert res.orig_shape == (1080, 810)


@pytest.mark.slow
def test_openvino_fp16_ir_within_its_looser_tolerance(yolov5n_official, tmp_path) -> None:
    require("openvino", "the [export] extra is not installed")
    path = yolov5n_official.export("openvino", imgsz=160, half=True, file=tmp_path / "fp16",
                                   image=image())  # fmt: skip
    weights = (path / "model.bin").stat().st_size
    assert weights < 0.6 * 4 * 1_872_157  # FP16 weights: about half the FP32 size
    runtime = yoloarena.load(path)
    x = parity_input(runtime, read_image(image("zidane.jpg")), (160, 160), 1)
    ref = torch_outputs(yolov5n_official, x)
    assert_close(ref, runtime.session(x), output_names(yolov5n_official, False), 2e-2, 1e-2)


def test_unknown_format_and_unsupported_options(yolov5n_official) -> None:
    with pytest.raises(YoloArenaError, match=r"unknown format 'onx'.*did you mean 'onnx'"):
        yolov5n_official.export("onx")
    with pytest.raises(YoloArenaError, match="nms=True is not available for format=tflite"):
        yolov5n_official.export("tflite", nms=True)
    with pytest.raises(YoloArenaError, match="half=True for format=onnx needs device=0"):
        yolov5n_official.export("onnx", half=True)


def test_truncated_empty_and_foreign_onnx_files(v5n_dynamic_onnx: Path, tmp_path) -> None:
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(v5n_dynamic_onnx.read_bytes()[:5000])
    with pytest.raises(YoloArenaError, match=r"cut.onnx' is not a loadable ONNX model"):
        yoloarena.load(truncated)
    empty = tmp_path / "empty.onnx"
    empty.touch()
    with pytest.raises(YoloArenaError, match=r"empty.onnx' is empty \(0 bytes\)"):
        yoloarena.load(empty)
    import onnx

    proto = onnx.load(str(v5n_dynamic_onnx))
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    with pytest.raises(YoloArenaError, match=r"foreign.onnx' has no valid yoloarena metadata"):
        yoloarena.load(foreign)


def test_missing_optional_dependency_names_the_extra(yolov5n_official, monkeypatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "openvino":
            raise ImportError("No module named 'openvino'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(YoloArenaError, match=r"pip install 'yoloarena\[export\]'"):
        yolov5n_official.export("openvino", imgsz=64)


def test_fixed_size_file_refuses_other_sizes(yolov5n_official, tmp_path) -> None:
    path = yolov5n_official.export("torchscript", imgsz=96, file=tmp_path / "m.torchscript")
    runtime = yoloarena.load(path)
    assert runtime.transform.rect is False and runtime.eval_protocol.rect is False
    with pytest.raises(YoloArenaError, match=r"exported for \[96, 96\] input.*dynamic=True"):
        runtime(torch.zeros(1, 3, 128, 128))
    meta = load_exported(path).meta
    assert meta["family"] == "yolov5" and meta["outputs"] == ["boxes", "scores", "objectness"]


def test_cli_export(tmp_path, capsys) -> None:
    from yoloarena.cli import main

    weights = shared_path("data", "weights", "yolov5n.pt")
    out = tmp_path / "v5n.onnx"
    assert main(["export", f"model={weights}", "imgsz=64", f"file={out}"]) == 0
    assert out.is_file() and "parity check passed" in capsys.readouterr().out
    assert main(["export", "model=yolov5n", "format=tflit"]) == 1  # a typo: one line, exit 1


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="TensorRT and FP16 exports need a CUDA device")
@pytest.mark.parametrize("fmt,half", [("engine", False), ("engine", True), ("onnx", True)])
def test_gpu_exports(yolov5n_official, fmt: str, half: bool, tmp_path) -> None:
    if fmt == "engine":
        require("tensorrt", "tensorrt is not installed")
    model = copy.deepcopy(yolov5n_official).to("cuda")
    path = model.export(fmt, imgsz=320, half=half, device="cuda", file=tmp_path / f"m.{fmt}",
                        image=image())  # fmt: skip
    runtime = yoloarena.load(path, device="cuda")
    res = runtime.predict(str(image()), conf=0.25)[0]
    ref = yolov5n_official.predict(str(image()), conf=0.25, imgsz=320)[0]
    assert abs(len(res.boxes) - len(ref.boxes)) <= 1
