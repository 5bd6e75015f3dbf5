"""Issue 15, must-show 3: the YOLOv5n-seg criterion reproduces the official v7.0 segmentation
loss (utils/segment/loss.py, overlap masks) and its gradients.

Fixture: shared/reference/loss/yolov5n-seg.pt (loss/README.md section 8). Loss-only: exact
assignment, rtol 1e-6; full model float32: rtol 1e-5 per item, 1e-4 on the gradient norm.
"""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import shared_path
from recipe import recipe_tensor

from yoloarena.hyp import get_hyp
from yoloarena.models.yolov5.loss import LossGains
from yoloarena.models.yolov5.seg_loss import YOLOv5SegLoss
from yoloarena.registry import build_model
from yoloarena.structures import BatchTargets

ITEMS = ("total", "box", "seg", "obj", "cls")
ERRORS: dict[str, float] = {}


@functools.cache
def fixture() -> dict:
    return torch.load(shared_path("reference", "loss", "yolov5n-seg.pt"), weights_only=True)


def criterion(hyp: dict) -> YOLOv5SegLoss:
    gains = LossGains(hyp["box"], hyp["obj"], hyp["cls"], hyp["anchor_t"],
                      hyp.get("label_smoothing", 0.0), hyp["fl_gamma"])  # fmt: skip
    return YOLOv5SegLoss(fixture()["weights"]["kept_buffers"]["model.24.anchors"], 80, gains)


def head_outputs() -> list[torch.Tensor]:
    """The official head outputs rebuilt from what the fixture stores: objectness everywhere,
    the full rows at the assigned cells (everything the loss reads)."""
    fx = fixture()
    levels = []
    for shape, obj, pos, bt in zip(fx["shapes"]["pred"], fx["pred_obj_logits"], fx["pred_pos"],
                                   fx["build_targets"], strict=True):  # fmt: skip
        p = torch.zeros(shape)
        p[..., 4] = obj
        p[bt["b"], bt["a"], bt["gj"], bt["gi"]] = pos
        levels.append(p)
    return levels


def assert_loss(got: dict, expected: dict, rtol: float, tag: str) -> None:
    for key in ITEMS:
        g, e = got[key].item(), expected[key].item()
        ERRORS[f"{tag} {key}"] = max(ERRORS.get(f"{tag} {key}", 0.0), abs(g - e) / abs(e or 1))
        assert g == pytest.approx(e, rel=rtol, abs=1e-12), key


def test_loss_from_stored_head_outputs() -> None:
    fx = fixture()
    levels = head_outputs()
    crit = criterion(fx["hyp_train"])
    loss = crit(levels, fx["proto"], fx["targets"], fx["masks"].float(), overlap=True)
    assert_loss(loss, fx["loss"], 1e-6, "loss-only")
    yaml_loss = criterion(fx["hyp_yaml"])(levels, fx["proto"], fx["targets"], fx["masks"].float())
    assert_loss(yaml_loss, fx["loss_hyp_yaml"], 1e-6, "loss-only")
    no_overlap = crit(levels, fx["proto"], fx["targets_no_overlap"], fx["masks_no_overlap"].float(),
                      overlap=False)  # fmt: skip
    assert_loss(no_overlap, fx["loss_no_overlap"], 1e-6, "loss-only")
    empty = crit(levels, fx["proto"], torch.zeros(0, 6), torch.zeros(2, 80, 80))
    assert_loss(empty, fx["loss_no_targets"], 1e-6, "loss-only")


def test_assignment_with_mask_indices() -> None:
    fx = fixture()
    matched = criterion(fx["hyp_train"]).seg_targets(head_outputs(), fx["targets"], overlap=True)
    for level, got in zip(fx["build_targets"], matched, strict=True):
        for name in ("b", "a", "gj", "gi", "tcls", "tbox", "anchors", "tidx", "xywhn"):
            assert torch.equal(got[name], level[name].to(got[name].dtype)), name
    assert [len(m["b"]) for m in matched] == fx["n_pos_per_level"]


def _recipe_model():
    model = build_model("yolov5n-seg")
    keys = set(model.state_dict())
    weights = {k: recipe_tensor(k, tuple(v.shape), keys, {})
               for k, v in model.state_dict().items() if k != "model.24.anchors"}  # fmt: skip
    model.load_state_dict(weights, strict=False)
    return model.train()


def batch_targets(fx: dict) -> BatchTargets:
    rows = fx["targets"]
    cx, cy, w, h = (rows[:, i] * 320 for i in range(2, 6))
    boxes = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)
    return BatchTargets(rows[:, 0].long(), rows[:, 1].long(), boxes, (320, 320),
                        masks=fx["masks"], overlap=True)  # fmt: skip


def test_full_model_losses_and_gradient() -> None:
    fx = fixture()
    model = _recipe_model()
    torch.manual_seed(3)
    images = torch.rand(2, 3, 320, 320)
    model.configure_criterion(get_hyp("yolov5", "scratch-low"), 320)  # obj gain -> 0.25 at 320
    out = model(images)
    scale = fx["proto"].abs().max().item()
    torch.testing.assert_close(out.prototypes, fx["proto"], rtol=0, atol=1e-4 * scale)
    loss = model.criterion(out, batch_targets(fx))
    assert_loss(loss, fx["loss"], 1e-5, "full model")
    model.zero_grad()
    loss["total"].backward()
    norm = torch.sqrt(sum(p.grad.double().pow(2).sum() for p in model.parameters())).item()
    ERRORS["grad norm"] = abs(norm - fx["grad"]["global_norm"]) / fx["grad"]["global_norm"]
    assert norm == pytest.approx(fx["grad"]["global_norm"], rel=1e-4)
    assert sum(p.grad is not None for p in model.parameters()) == fx["grad"]["n_params_with_grad"]
    state = model.state_dict()
    for key, value in fx["bn_buffers_after_one_train_forward"].items():
        torch.testing.assert_close(state[key].double(), value.double(), rtol=1e-5, atol=1e-6)


def test_criterion_needs_masks() -> None:
    fx = fixture()
    model = _recipe_model()
    targets = batch_targets(fx)
    targets.masks = None
    with pytest.raises(ValueError, match="masks"):
        model.criterion(model(torch.rand(2, 3, 320, 320)), targets)


def test_print_errors() -> None:
    print({k: f"{v:.3g}" for k, v in sorted(ERRORS.items())})
