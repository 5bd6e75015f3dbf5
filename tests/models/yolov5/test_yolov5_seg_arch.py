"""Issue 15, must-show 1: keys, params and GFLOPs of the five YOLOv5 v7.0 -seg models.

References: the official key lists (shared/reference/yolov5*-seg_keys.json), the published v7.0
segmentation table (params M and GFLOPs at 640, spec 1.2), and for n the measured official
FlopCounter figure (yolov5_model_stats.json).
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import shared_json

from yoloarena.bench.stats import count_flops, count_params
from yoloarena.nn import count_batchnorms
from yoloarena.registry import build_model, list_models

SEG = ["yolov5n-seg", "yolov5s-seg", "yolov5m-seg", "yolov5l-seg", "yolov5x-seg"]
# v7.0 release table: params (M), GFLOPs at 640
PUBLISHED = {"yolov5n-seg": (2.0, 7.1), "yolov5s-seg": (7.6, 26.4), "yolov5m-seg": (22.0, 70.8),
             "yolov5l-seg": (47.9, 147.7), "yolov5x-seg": (88.8, 265.7)}  # fmt: skip
BUFFERS = ("running_mean", "running_var", "num_batches_tracked", "anchors")


def meta_model(name: str, **kwargs):
    with torch.device("meta"):
        return build_model(name, **kwargs).eval()


def test_seg_variants_registered() -> None:
    assert [m for m in list_models("yolov5") if m.endswith("-seg")] == SEG
    assert all(meta_model(m).task == "segment" for m in SEG)
    assert meta_model("yolov5n").task == "detect"


@pytest.mark.parametrize("name", SEG)
def test_keys_and_shapes_equal_official(name: str) -> None:
    expected = shared_json("reference", f"{name}_keys.json")
    got = {k: list(v.shape) for k, v in meta_model(name).state_dict().items()}
    assert list(got) == list(expected)  # same order too
    assert got == expected


@pytest.mark.parametrize("name", SEG)
def test_params_and_gflops(name: str) -> None:
    keys = shared_json("reference", f"{name}_keys.json")
    official_params = sum(math.prod(s) for k, s in keys.items() if not k.endswith(BUFFERS))
    model = meta_model(name)
    assert count_params(model) == official_params  # unfused, exact
    model.deploy()
    assert count_batchnorms(model) == 0
    params_m, gflops_published = PUBLISHED[name]
    assert round(count_params(model) / 1e6, 1) == params_m  # the table gives fused params in M
    gflops = count_flops(model, 640) / 1e9
    # the table rounds to 0.1 G (and its thop count adds a few non-conv operations)
    assert gflops == pytest.approx(gflops_published, abs=0.1)
    if name == "yolov5n-seg":  # the official model measured with the same counter
        ref = shared_json("reference", "yolov5_model_stats.json")["models"][name]
        assert gflops == pytest.approx(ref["gflops_flopcounter_640_fused"], rel=1e-3)
        assert count_params(model) == ref["params_fused"]


def test_proto_width_scales_with_the_model() -> None:
    for name, npr in zip(SEG, (64, 128, 192, 256, 320), strict=True):
        sd = meta_model(name).state_dict()
        assert sd["model.24.proto.cv1.conv.weight"].shape[0] == npr
        assert sd["model.24.proto.cv3.conv.weight"].shape[0] == 32


@torch.no_grad()
def test_train_and_eval_outputs() -> None:
    model = build_model("yolov5n-seg", num_classes=3).eval()
    x = torch.rand(2, 3, 128, 96)
    out = model(x)
    assert [tuple(t.shape) for t in out.levels] == [
        (2, 3, 16, 12, 40),
        (2, 3, 8, 6, 40),
        (2, 3, 4, 3, 40),
    ]
    n = 3 * (16 * 12 + 8 * 6 + 4 * 3)
    assert out.boxes.shape == (2, n, 4) and out.scores.shape == (2, n, 3)
    assert out.mask_coefficients.shape == (2, n, 32)
    assert out.prototypes.shape == (2, 32, 32, 24)  # input / 4
    # the coefficients are the raw head outputs after the class columns (no sigmoid)
    first = out.levels[0][:, 0, ..., 8:].flatten(1, 2)  # anchor 0 of the stride-8 level
    assert torch.equal(out.mask_coefficients[:, : 16 * 12], first)
    model.train()
    train_out = model(x)
    assert train_out.boxes is None and train_out.mask_coefficients is None
    assert train_out.prototypes.shape == (2, 32, 32, 24) and len(train_out.levels) == 3


def test_class_prior_bias_leaves_mask_columns() -> None:
    """The class prior log(0.6 / (nc - 0.99999)) goes on the class biases only (spec 3.5); the
    mask coefficient biases keep PyTorch's init, uniform within 1/sqrt(fan_in) = 1/8 here."""
    bias = build_model("yolov5n-seg", num_classes=3).model[24].m[0].bias.view(3, -1)
    prior = math.log(0.6 / (3 - 0.99999))
    assert bias.shape == (3, 40)
    assert ((bias[:, 5:8] - prior).abs() <= 0.125).all()
    assert (bias[:, 8:].abs() <= 0.125).all()
    assert bias[:, 4].mean().item() == pytest.approx(math.log(8 / 80**2), abs=0.125)
