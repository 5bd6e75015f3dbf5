"""Issue 5, must-show 1: the YOLOv5n criterion reproduces the official loss and gradients."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import shared_path
from recipe import recipe_tensor

from yoloarena.hyp import get_hyp
from yoloarena.models.yolov5.loss import LossGains, YOLOv5Loss
from yoloarena.registry import build_model
from yoloarena.structures import BatchTargets


@functools.cache
def fixture() -> dict:
    return torch.load(shared_path("reference", "loss", "yolov5n_loss.pt"), weights_only=True)


def criterion(hyp: dict) -> YOLOv5Loss:
    gains = LossGains(hyp["box"], hyp["obj"], hyp["cls"], hyp["anchor_t"],
                      hyp.get("label_smoothing", 0.0), hyp["fl_gamma"])  # fmt: skip
    return YOLOv5Loss(fixture()["weights"]["kept_buffers"]["model.24.anchors"], 80, gains)


def assert_loss(got: dict, expected: dict, rtol: float) -> None:
    for key in ("total", "box", "obj", "cls"):
        assert got[key].item() == pytest.approx(expected[key].item(), rel=rtol), key


def test_loss_from_stored_head_outputs() -> None:
    fx = fixture()
    crit = criterion(fx["hyp_train"])
    assert_loss(crit(fx["pred"], fx["targets"]), fx["loss"], 1e-6)
    assert_loss(criterion(fx["hyp_yaml"])(fx["pred"], fx["targets"]), fx["loss_hyp_yaml"], 1e-6)
    matched = crit.build_targets(fx["pred"], fx["targets"])
    for level, ((b, a, gj, gi), tcls, tbox, anchors) in zip(
        fx["build_targets"], matched, strict=True
    ):
        for name, got in zip(("b", "a", "gj", "gi", "tcls", "tbox", "anchors"),
                             (b, a, gj, gi, tcls, tbox, anchors), strict=True):  # fmt: skip
            assert torch.equal(got, level[name]), name
    assert [len(m[1]) for m in matched] == fx["n_pos_per_level"]


@pytest.mark.parametrize("case", [
    "no_targets", "duplicate_box", "integer_grid_centre", "half_fraction", "ratio_exactly_4",
    "centre_on_edge", "cell_collision",
])  # fmt: skip
def test_edge_cases(case: str) -> None:
    fx = fixture()
    edge = fx["edge_cases"][case]
    crit = criterion(fx["hyp_train"])
    assert_loss(crit(fx["pred"], edge["targets"]), edge["loss"], 1e-6)
    matched = crit.build_targets(fx["pred"], edge["targets"])
    assert [len(m[1]) for m in matched] == edge["n_pos_per_level"]


def test_autobalance_updates_balance() -> None:
    fx = fixture()
    crit = criterion(fx["hyp_train"])
    crit.autobalance = True
    ref = fx["autobalance_on"]
    assert_loss(crit(fx["pred"], fx["targets"]), ref["call1"], 1e-6)
    assert crit.balance == pytest.approx(ref["balance_after_call1"], rel=1e-9)
    assert_loss(crit(fx["pred"], fx["targets"]), ref["call2"], 1e-6)


def test_full_model_losses_and_gradient() -> None:
    fx = fixture()
    model = build_model("yolov5n")
    keys = set(model.state_dict())
    weights = {k: recipe_tensor(k, tuple(v.shape), keys, {})
               for k, v in model.state_dict().items() if k != "model.24.anchors"}  # fmt: skip
    model.load_state_dict(weights, strict=False)
    model.train()
    torch.manual_seed(3)
    images = torch.rand(2, 3, 320, 320)
    rows = fx["targets"]
    cx, cy, w, h = (rows[:, i] * 320 for i in range(2, 6))
    boxes = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)
    targets = BatchTargets(rows[:, 0].long(), rows[:, 1].long(), boxes, (320, 320))
    model.configure_criterion(get_hyp("yolov5", "scratch-low"), 320)  # obj gain -> 0.25 at 320
    loss = model.criterion(model(images), targets)
    assert_loss(loss, fx["loss"], 1e-5)
    model.zero_grad()
    loss["total"].backward()
    norm = torch.sqrt(sum(p.grad.double().pow(2).sum() for p in model.parameters())).item()
    assert norm == pytest.approx(fx["grad"]["global_norm"], rel=1e-4)
    assert sum(p.grad is not None for p in model.parameters()) == fx["grad"]["n_params_with_grad"]
    state = model.state_dict()
    for key, value in fx["bn_buffers_after_one_train_forward"].items():  # eps 1e-3, momentum 0.03
        torch.testing.assert_close(state[key].double(), value.double(), rtol=1e-5, atol=1e-6)
