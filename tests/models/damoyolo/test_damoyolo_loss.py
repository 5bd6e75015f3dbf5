"""Issue 6, must-show 1: the DAMO-YOLO criterion reproduces the official T and S losses."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import shared_path
from recipe import recipe_tensor

from yoloarena.models.damoyolo.loss import DamoLoss
from yoloarena.registry import build_model
from yoloarena.structures import BatchTargets

SIZES = ["t", "s"]


@functools.cache
def fixture(size: str) -> dict:
    return torch.load(
        shared_path("reference", "loss", f"damoyolo_{size}_loss.pt"), weights_only=True
    )


def assert_loss(got: dict, expected: dict, rtol: float) -> None:
    for key in ("total", "qfl", "giou", "dfl"):
        assert got[key].item() == pytest.approx(expected[key].item(), rel=rtol), key


@pytest.mark.parametrize("size", SIZES)
def test_loss_and_assignment_from_stored_head_outputs(size: str) -> None:
    fx = fixture(size)
    head = fx["head_outputs"]
    priors = head["priors"][0][:, :3]
    targets = [(t["xyxy"], t["labels"]) for t in fx["targets"]]
    crit = DamoLoss(80, 16)
    assert_loss(
        crit(head["cls_logits"], head["bbox_before_softmax"], priors, targets), fx["loss"], 1e-6
    )
    boxes = crit.decode(head["bbox_before_softmax"], priors)
    assigned = crit.assign(head["cls_scores"], boxes, priors, targets)
    assert [a.pos.numel() for a in assigned] == fx["num_pos_per_image"]
    for got, ref in zip(assigned, fx["assignment"], strict=True):
        assert torch.equal(got.pos, ref["pos_inds"]) and torch.equal(got.labels, ref["pos_labels"])
        assert torch.equal(got.boxes, ref["pos_bbox_targets"])
        # the quality targets are IoUs of boxes decoded through our own softmax (the official one
        # runs on another memory layout): equal to a few float32 ulps
        torch.testing.assert_close(got.scores, ref["pos_label_scores"], rtol=1e-5, atol=1e-6)


def test_no_targets_gives_only_the_classification_term() -> None:
    fx = fixture("t")
    head = fx["head_outputs"]
    logits = head["bbox_before_softmax"].clone().requires_grad_(True)
    out = DamoLoss(80, 16)(head["cls_logits"], logits, head["priors"][0][:, :3],
                           [(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))] * 2)  # fmt: skip
    assert out["giou"].item() == 0 and out["dfl"].item() == 0 and out["qfl"].item() > 0
    out["total"].backward()
    assert logits.grad is not None and logits.grad.abs().sum() == 0  # in the graph, zero gradient


@pytest.mark.parametrize("size", SIZES)
def test_full_model_losses_and_gradient(size: str) -> None:
    fx = fixture(size)
    model = build_model(f"damoyolo-{size}")
    keys = set(model.state_dict())
    weights = {k: recipe_tensor(k, tuple(v.shape), keys, {})
               for k, v in model.state_dict().items() if k != "head.integral.project"}  # fmt: skip
    model.load_state_dict(weights, strict=False)
    model.train()
    torch.manual_seed(3)
    images = torch.rand(2, 3, 320, 320) * 255
    t = fx["targets"]
    index = torch.cat([torch.full((len(x["labels"]),), i) for i, x in enumerate(t)])
    targets = BatchTargets(index, torch.cat([x["labels"] for x in t]),
                           torch.cat([x["xyxy"] for x in t]), (320, 320))  # fmt: skip
    loss = model.criterion(model(images), targets)
    assert_loss(loss, fx["loss"], 1e-5)
    model.zero_grad()
    loss["total"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == int(fx["grad"]["n_params_with_grad"])
    norm = torch.sqrt(sum(g.double().pow(2).sum() for g in grads)).item()
    assert norm == pytest.approx(float(fx["grad"]["global_norm"]), rel=2e-3)
