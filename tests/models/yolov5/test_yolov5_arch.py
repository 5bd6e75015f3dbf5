"""Issue 2, must-show 1: keys, shapes, params and GFLOPs of all 10 YOLOv5 models."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_json

from yoloarena.bench.stats import count_flops, count_params
from yoloarena.nn import count_batchnorms
from yoloarena.registry import build_model, list_models

MODELS = ["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x"]
MODELS += [m + "6" for m in MODELS]


def meta_model(name: str, **kwargs):
    with torch.device("meta"):
        return build_model(name, **kwargs).eval()


def test_all_variants_registered() -> None:
    assert list_models("yolov5", task="detect") == MODELS
    assert list_models("yolov5", task="segment") == [f"{m}-seg" for m in MODELS[:5]]
    assert list_models("yolov5", task="classify") == [f"{m}-cls" for m in MODELS[:5]]


@pytest.mark.parametrize("name", MODELS)
def test_keys_and_shapes_equal_official(name: str) -> None:
    expected = shared_json("reference", f"{name}_keys.json")
    got = {k: list(v.shape) for k, v in meta_model(name).state_dict().items()}
    assert list(got) == list(expected)  # same order too
    assert got == expected


@pytest.mark.parametrize("name", MODELS)
def test_params_and_gflops(name: str) -> None:
    ref = shared_json("reference", "yolov5_model_stats.json")["models"][name]
    model = meta_model(name)
    assert count_params(model) == ref["params"]  # unfused, exact
    model.deploy()
    assert count_batchnorms(model) == 0
    params = count_params(model)
    assert params == pytest.approx(ref["params_fused"], rel=0.005)
    gflops = count_flops(model, 640) / 1e9
    # P6 models have no flop_counter figure; thop's fused figure equals it for fused detectors
    expected = ref.get("gflops_flopcounter_640_fused", ref["gflops_info_thop_fused"])
    assert gflops == pytest.approx(expected, rel=0.005)


def test_num_classes_configurable() -> None:
    model = meta_model("yolov5s", num_classes=3, names=["cat", "dog", "bird"])
    assert model.state_dict()["model.24.m.0.weight"].shape == (3 * 8, 128, 1, 1)
    assert model.names == {0: "cat", 1: "dog", 2: "bird"}
    assert meta_model("yolov5s", num_classes=2).names == {0: "class0", 1: "class1"}


def test_detect_bias_prior_and_bn_settings() -> None:
    model = build_model("yolov5n")
    bias = model.model[24].m[0].bias.view(3, -1)  # stride 8: log(8 / 80**2) on top of init
    assert bias[:, 4].mean().item() == pytest.approx(-6.68, abs=0.1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.03 for m in bns)


@torch.no_grad()
def test_train_and_eval_outputs() -> None:
    model = build_model("yolov5n").eval()
    x = torch.rand(2, 3, 128, 96)
    out = model(x)
    assert [tuple(t.shape) for t in out.levels] == [
        (2, 3, 16, 12, 85),
        (2, 3, 8, 6, 85),
        (2, 3, 4, 3, 85),
    ]
    assert out.boxes.shape == (2, 3 * (16 * 12 + 8 * 6 + 4 * 3), 4)
    assert out.scores.shape == (2, out.boxes.shape[1], 80) and out.objectness.shape == (
        2,
        out.boxes.shape[1],
    )
    model.train()
    train_out = model(x)
    assert train_out.boxes is None and len(train_out.levels) == 3
