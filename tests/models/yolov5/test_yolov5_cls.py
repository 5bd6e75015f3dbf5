"""Issue 16, must-show 1 and 2: yolov5{n,s,m,l,x}-cls against the official keys, the published
table and the parity fixtures (shared/reference/parity/yolov5{n,s}-cls.pt, FIXTURES.md).

Also: official classification .pt files open through the safe loader, and a detection
checkpoint starts a classifier (backbone loaded, head new), as upstream's classify/train.py.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_json, shared_path
from recipe import recipe_state_dict

from yoloarena.bench.stats import count_flops, count_params
from yoloarena.nn.fuse import count_batchnorms
from yoloarena.registry import build_model, list_models

MODELS = ["yolov5n-cls", "yolov5s-cls", "yolov5m-cls", "yolov5l-cls", "yolov5x-cls"]
# spec 1.3 (the v7.0 README's classification table): params (M) and GFLOPs at 224
PUBLISHED = {"yolov5n-cls": (2.5, 0.5), "yolov5s-cls": (5.4, 1.4), "yolov5m-cls": (12.9, 3.9),
             "yolov5l-cls": (26.5, 8.5), "yolov5x-cls": (48.1, 15.9)}  # fmt: skip


def meta_model(name: str, **kwargs):
    with torch.device("meta"):
        return build_model(name, **kwargs).eval()


@functools.cache
def _fixture(name: str) -> dict:
    return torch.load(shared_path("reference", "parity", f"{name}.pt"), weights_only=True)


def test_variants_registered_as_classifiers() -> None:
    assert list_models("yolov5", task="classify") == MODELS
    assert all(build_model(n, num_classes=3).task == "classify" for n in MODELS[:1])


@pytest.mark.parametrize("name", ["yolov5n-cls", "yolov5s-cls"])
def test_keys_and_shapes_equal_official(name: str) -> None:
    expected = shared_json("reference", f"{name}_keys.json")
    got = {k: list(v.shape) for k, v in meta_model(name).state_dict().items()}
    assert list(got) == list(expected)  # same order too
    assert got == expected


@pytest.mark.parametrize("name", MODELS)
def test_params_and_gflops_match_published(name: str) -> None:
    """Published figures are rounded to 0.1 and made with upstream's model_info: fused params, and
    thop at a 32x32 input scaled by (224/32)^2 (which also scales the Linear, input-independent).
    """
    params_m, gflops = PUBLISHED[name]
    model = meta_model(name)
    model.deploy()
    assert count_batchnorms(model) == 0
    assert count_params(model) / 1e6 == pytest.approx(params_m, abs=0.05)
    assert count_flops(model, 32) * 49 / 1e9 == pytest.approx(gflops, abs=0.05)


@pytest.mark.parametrize("name", ["yolov5n-cls", "yolov5s-cls"])
def test_params_and_flops_match_official_model(name: str) -> None:
    """Against the official ClassificationModel measured with the same counter at 224."""
    ref = shared_json("reference", "yolov5_model_stats.json")["models"][name]
    model = meta_model(name)
    assert count_params(model) == ref["params"]
    model.deploy()
    assert count_params(model) == ref["params_fused"]
    assert count_flops(model, 224) / 1e9 == pytest.approx(ref["gflops_flopcounter_224"], abs=5e-4)


def test_batchnorm_settings_follow_upstream() -> None:
    model = build_model("yolov5n-cls")
    head_bn = model.model[9].conv.bn
    assert (head_bn.eps, head_bn.momentum) == (1e-5, 0.1)  # created after initialize_weights
    others = [m for n, m in model.named_modules()
              if isinstance(m, torch.nn.BatchNorm2d) and not n.startswith("model.9")]  # fmt: skip
    assert others and all(m.eps == 1e-3 and m.momentum == 0.03 for m in others)


def _recipe_model(name: str):
    fx = _fixture(name)
    model = build_model(name).eval()
    result = model.load_state_dict(recipe_state_dict(fx), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    sums = {k: v.double().sum().item() for k, v in model.state_dict().items()}
    for key, expected in fx["weight_sums_float64"].items():
        assert sums[key] == expected, key
    return model


def _fixture_input(fx: dict) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.rand(1, 3, *fx["input_size"])
    assert torch.equal(x.flatten()[:8], fx["input_check"]["first8"])
    assert x.double().sum().item() == fx["input_check"]["sum_float64"]
    return x


@pytest.mark.parametrize("name", ["yolov5n-cls", "yolov5s-cls"])
@torch.no_grad()
def test_logits_match_official_unfused_and_fused(name: str) -> None:
    fx = _fixture(name)
    model = _recipe_model(name)
    x = _fixture_input(fx)
    for kind in ("unfused", "fused"):
        if kind == "fused":
            model.deploy()
            assert count_batchnorms(model) == 0
        ref = fx["outputs"][kind]
        feats = model.features(x)
        logits = model.head(feats)
        pooled = model.head.pool(model.head.conv(feats)).flatten(1)
        torch.testing.assert_close(logits, ref["logits"], rtol=0, atol=1e-4)
        for got, key in ((feats, "backbone_out"), (pooled, "pooled")):
            exp = ref[key]
            torch.testing.assert_close(got, exp, rtol=0, atol=1e-4 * exp.abs().max().item())
        probs = model.postprocess(logits)[0]
        assert probs.topk(5).indices.tolist() == ref["softmax_top5_indices"].tolist()
        torch.testing.assert_close(probs.topk(5).values, ref["softmax_top5_values"], rtol=0,
                                   atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("name", ["yolov5n-cls", "yolov5s-cls"])
@torch.no_grad()
def test_eval_transform_of_bus_matches_official(name: str) -> None:
    """The model's own transform reproduces upstream's classify preprocessing of bus.jpg."""
    fx = _fixture(name)
    ref = fx["preprocess_bus"]
    model = _recipe_model(name)
    img = cv2.imread(str(shared_path("data", "images", "bus.jpg")))
    x, _ = model.transform([img])
    d = x.double()
    assert list(x.shape) == ref["shape"]
    for key, value in (("mean", d.mean()), ("std", d.std()), ("sum_float64", d.sum())):
        assert value.item() == pytest.approx(ref[key], rel=1e-6), key
    assert d.min().item() == pytest.approx(ref["min"], rel=1e-6)
    assert d.max().item() == pytest.approx(ref["max"], rel=1e-6)
    torch.testing.assert_close(d.mean((0, 2, 3)), ref["channel_mean"], rtol=1e-6, atol=0)
    torch.testing.assert_close(x.flatten()[:8], ref["first8"], rtol=0, atol=1e-5)
    logits = model(x)
    torch.testing.assert_close(logits, ref["recipe_model_logits"], rtol=0, atol=1e-4)
    assert logits[0].topk(5).indices.tolist() == ref["recipe_model_top5_indices"].tolist()
    r = model.predict(img)[0]  # the in-memory predict path: same transform, same top 5
    assert r.probs.top5 == ref["recipe_model_top5_indices"].tolist()
    assert repr(r).startswith("Results(224x224 ")  # the network input, as upstream prints


def test_predict_results_probs() -> None:
    model = build_model("yolov5n-cls", num_classes=3, names=["cat", "dog", "bird"]).eval()
    img = np.random.default_rng(0).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    r = model.predict([img, img])[1]
    assert r.probs is not None and len(r.probs) == 3 and len(r) == 0
    assert sorted(r.probs.top5) == [0, 1, 2]  # fewer classes than 5: all of them
    assert r.probs.top1 == r.probs.top5[0]
    assert r.probs.top1conf == pytest.approx(float(r.probs.data.max()))
    assert sum(r.probs.data.tolist()) == pytest.approx(1.0, abs=1e-5)
    text = r.verbose()
    assert text.startswith("224x224 ") and r.probs.name_of(r.probs.top1) in text
    assert [d["class"] for d in r.to_list()] == r.probs.top5
    drawn = r.plot()
    assert drawn.shape == img.shape and not np.array_equal(drawn, img)
