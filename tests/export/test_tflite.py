"""Issue 17, must-show 2: TFLite fp32 (litert-torch) of yolov5n and damoyolo-t matches PyTorch
within the fp32 bound in LiteRT's interpreter and runs back through predict with the same
detections; fp16 weights within the half bound."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path
from recipe import recipe_state_dict

import yoloarena
from yoloarena.data.images import read_image
from yoloarena.export.check import parity_input
from yoloarena.export.graph import ExportGraph, output_names
from yoloarena.export.tflite import contiguous_copy
from yoloarena.registry import build_model

pytest.importorskip("litert_torch", reason="the [edge] extra is not installed")
Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter
SIZE = 320


def model_of(name: str):
    if name == "yolov5n":
        return yoloarena.load(shared_path("data", "weights", "yolov5n.pt"))
    model = build_model(name).eval()
    fx = torch.load(shared_path("reference", "parity", "damoyolo_t.pt"), weights_only=True)
    model.load_state_dict(recipe_state_dict(fx), strict=False)  # non-degenerate outputs
    return yoloarena.ArenaModel(model)


def litert_outputs(path, x: torch.Tensor) -> list[np.ndarray]:
    """LiteRT's interpreter directly (not our runtime wrapper), outputs in the graph's order."""
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    res = runner(**{next(iter(runner.get_input_details())): x.numpy()})
    return [res[k] for k in sorted(res, key=lambda k: int(k.rsplit("_", 1)[-1]))]


def square_image(tmp_path):
    """bus.jpg cropped square, so the fixed-size file and PyTorch's rect letterbox agree."""
    img = read_image(shared_path("data", "images", "bus.jpg"))
    side = min(img.shape[:2])
    path = tmp_path / "bus_square.jpg"
    cv2.imwrite(str(path), img[:side, :side])
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolov5n", "damoyolo-t"])
def test_tflite_fp32_parity_and_predict(name: str, tmp_path) -> None:
    """Measured here at 320: yolov5n boxes max |diff| 5e-4 px (bound 1e-4 x ~320 px), damoyolo-t
    1.5e-4 px; scores about 1e-6."""
    model = model_of(name)
    path = model.export("tflite", imgsz=SIZE, file=tmp_path / name)
    x = parity_input(model, read_image(shared_path("data", "images", "zidane.jpg")), (SIZE,) * 2, 1)
    graph = ExportGraph(copy.deepcopy(model).deploy()).eval()
    with torch.inference_mode():
        ref = [t.float() for t in graph(x)]
    got = litert_outputs(path, x)
    for out, r, g in zip(output_names(model, False), ref, got, strict=True):
        g = torch.from_numpy(g)
        assert g.shape == r.shape, out
        err = (g - r).abs()
        assert (err <= 1e-4 * r.abs() + 1e-4 * r.abs().max()).all(), f"{out}: {err.max():.3g}"
    runtime = yoloarena.load(path)
    assert runtime.backend == "tflite" and runtime.names == model.names
    source = square_image(tmp_path)
    conf = 0.25 if name == "yolov5n" else 0.05
    want = model.predict(source, imgsz=SIZE, conf=conf)[0]
    have = runtime.predict(source, conf=conf)[0]
    assert len(want.boxes) >= 3 and len(have.boxes) == len(want.boxes)
    o1, o2 = want.scores.argsort(descending=True), have.scores.argsort(descending=True)
    assert torch.equal(want.labels[o1], have.labels[o2])
    assert torch.allclose(want.boxes[o1], have.boxes[o2], atol=0.05, rtol=0)
    assert torch.allclose(want.scores[o1], have.scores[o2], atol=1e-4, rtol=0)


@pytest.mark.slow
def test_tflite_fp16_weights_within_the_half_bound(yolov5n_official, tmp_path) -> None:
    path = yolov5n_official.export("tflite", imgsz=160, half=True, file=tmp_path / "h")
    fp32_bytes = 4 * sum(p.numel() for p in yolov5n_official.parameters())
    assert path.stat().st_size < 0.65 * fp32_bytes  # fp16 weights: about half the size
    runtime = yoloarena.load(path)
    assert runtime.precision == "fp16"
    x = parity_input(yolov5n_official, read_image(shared_path("data", "images", "zidane.jpg")),
                     (160, 160), 1)  # fmt: skip
    graph = ExportGraph(copy.deepcopy(yolov5n_official).deploy()).eval()
    with torch.inference_mode():
        ref = graph(x)
    for r, g in zip(ref, litert_outputs(path, x), strict=True):
        err = (torch.from_numpy(g) - r).abs()
        assert (err <= 2e-2 * r.abs() + 1e-2 * r.abs().max()).all()


def test_contiguous_copy_makes_every_weight_contiguous() -> None:
    """The route around litert-torch's constant cache (see yoloarena.export.tflite)."""
    net = build_model("damoyolo-t").eval().deploy()  # channels-last weights
    assert any(not p.is_contiguous() for p in net.parameters())
    copy_ = contiguous_copy(net)
    assert all(t.is_contiguous() for t in [*copy_.parameters(), *copy_.buffers()])
    assert any(not p.is_contiguous() for p in net.parameters())  # the original is untouched
