"""Issue 2, must-show 2: n/s/m/l/x reproduce the official outputs under the parity recipe.

Fixtures: shared/reference/parity/yolov5*.pt (FIXTURES.md). Tolerances are the stated ones.
"""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import shared_path
from recipe import fixture_input, official_pred, recipe_state_dict

from yoloarena.registry import build_model

MODELS = ["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x"]


@functools.cache
def _fixture(name: str) -> dict:
    return torch.load(shared_path("reference", "parity", f"{name}.pt"), weights_only=True)


def check_pred(pred: torch.Tensor, ref: dict, step: int) -> None:
    sub = pred[:, ::step]
    exp = ref["pred_sub"]
    torch.testing.assert_close(sub[..., :4], exp[..., :4], rtol=3e-4, atol=1e-2)
    torch.testing.assert_close(sub[..., 4:], exp[..., 4:], rtol=0, atol=1e-4)
    d = pred.double()
    stats = ref["pred_stats"]
    assert d.numel() == stats["numel"]
    for key, value in (("mean", d.mean()), ("std", d.std()), ("sum_float64", d.sum())):
        assert value.item() == pytest.approx(stats[key], rel=1e-5), key
    c = d.flatten(0, 1)
    cols = torch.stack([c.mean(0), c.std(0), c.min(0).values, c.max(0).values], 1)
    exp_cols = ref["pred_col_stats"]
    torch.testing.assert_close(cols[:4], exp_cols[:4, :4], rtol=3e-4, atol=1e-2)
    torch.testing.assert_close(cols[4:], exp_cols[4:, :4], rtol=0, atol=1e-4)
    torch.testing.assert_close(c.sum(0), exp_cols[:, 4], rtol=1e-4, atol=0)


def _recipe_model(name: str):
    """Our model with the recipe weights, checked key by key against the fixture."""
    fx = _fixture(name)
    model = build_model(name).eval()
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {k: list(s) for k, s in fx["state_dict_shapes"]}
    missing = model.load_state_dict(recipe_state_dict(fx), strict=False).missing_keys
    assert set(missing) == set(fx["kept_buffers"])
    for key, value in fx["kept_buffers"].items():
        assert torch.equal(model.state_dict()[key], value), key
    sums = {k: v.double().sum().item() for k, v in model.state_dict().items()}
    for key, expected in fx["weight_sums_float64"].items():
        assert sums[key] == expected, key
    return model


@pytest.mark.parametrize("name", MODELS)
@torch.no_grad()
def test_unfused_matches_official(name: str) -> None:
    fx = _fixture(name)
    model = _recipe_model(name)
    out = model(fixture_input(fx))
    check_pred(official_pred(out), fx["outputs"]["unfused"], fx["subsample_step"])
    for level, exp in zip(out.levels, fx["outputs"]["unfused"]["raw_sub"], strict=True):
        got = level.flatten(1, 3)[:, :: fx["subsample_step"]]
        torch.testing.assert_close(got, exp, rtol=0, atol=1e-4 * exp.abs().max().item())


@pytest.mark.parametrize("name", MODELS)
@torch.no_grad()
def test_fused_matches_official(name: str) -> None:
    fx = _fixture(name)
    model = _recipe_model(name)
    x = fixture_input(fx)
    before = official_pred(model(x))
    model.deploy()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    after = official_pred(model(x))
    check_pred(after, fx["outputs"]["fused"], fx["subsample_step"])
    # deploy() moves our own outputs by no more than the fused-vs-unfused tolerance
    torch.testing.assert_close(after[..., :4], before[..., :4], rtol=3e-4, atol=1e-2)
    torch.testing.assert_close(after[..., 4:], before[..., 4:], rtol=0, atol=1e-4)
