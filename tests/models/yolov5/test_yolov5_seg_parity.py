"""Issue 15, must-show 2: yolov5{n,s,m}-seg reproduce the official v7.0 SegmentationModel under
the parity recipe (detection tensor and prototypes, unfused and fused), and for n the official
post-processing (NMS + process_mask) gives the same detections and masks.

Fixtures: shared/reference/parity/yolov5{n,s,m}-seg.pt; tolerances from FIXTURES.md.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import shared_path
from recipe import fixture_input, recipe_state_dict

from yoloarena.ops import xyxy_to_cxcywh
from yoloarena.ops.masks import mask_iou, process_masks
from yoloarena.registry import build_model

MODELS = ["yolov5n-seg", "yolov5s-seg", "yolov5m-seg"]
ERRORS: dict[str, float] = {}  # worst errors seen, printed with -s for the report


@functools.cache
def _fixture(name: str) -> dict:
    return torch.load(shared_path("reference", "parity", f"{name}.pt"), weights_only=True)


def _recipe_model(name: str):
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
        assert sums[key] == pytest.approx(expected, rel=1e-12, abs=1e-12), key  # summation order
    return model


def official_pred(out) -> torch.Tensor:
    """[B, N, 117]: cx, cy, w, h, obj, class probabilities, raw mask coefficients."""
    boxes = xyxy_to_cxcywh(out.boxes)
    return torch.cat([boxes, out.objectness[..., None], out.scores, out.mask_coefficients], -1)


def _close(name: str, got: torch.Tensor, exp: torch.Tensor, rtol: float, atol: float) -> None:
    err = ((got - exp).abs() - rtol * exp.abs()).max().item()
    ERRORS[name] = max(ERRORS.get(name, 0.0), (got - exp).abs().max().item())
    torch.testing.assert_close(got, exp, rtol=rtol, atol=atol, msg=f"{name}: {err}")


def check_outputs(model_name: str, pred, proto, ref: dict, step: int) -> None:
    sub, exp = pred[:, ::step], ref["pred_sub"]
    _close(f"{model_name} xywh", sub[..., :4], exp[..., :4], 3e-4, 1e-2)
    _close(f"{model_name} conf", sub[..., 4:85], exp[..., 4:85], 0, 1e-4)
    coef_scale = exp[..., 85:].abs().max().item()
    _close(f"{model_name} coef", sub[..., 85:], exp[..., 85:], 0, 1e-4 * coef_scale)
    proto_sub = proto.flatten(2)[..., ::step]
    _close(f"{model_name} proto", proto_sub, ref["proto_sub"], 0,
           1e-4 * ref["proto_sub"].abs().max().item())  # fmt: skip
    d, stats = pred.double(), ref["pred_stats"]
    for key, value in (("mean", d.mean()), ("std", d.std()), ("sum_float64", d.sum())):
        assert value.item() == pytest.approx(stats[key], rel=1e-5), key
    c = d.flatten(0, 1)
    col_sum, exp_cols = c.sum(0), ref["pred_col_stats"]
    torch.testing.assert_close(col_sum[:85], exp_cols[:85, 4], rtol=1e-4, atol=0)
    mask_bound = 1e-5 * c.shape[0] * c[:, 85:].abs().max().item()
    torch.testing.assert_close(col_sum[85:], exp_cols[85:, 4], rtol=0, atol=mask_bound)
    p, ps = proto.double(), ref["proto_stats"]
    for key, value in (("mean", p.mean()), ("std", p.std()), ("sum_float64", p.sum())):
        assert value.item() == pytest.approx(ps[key], rel=1e-5), key
    ch = p[0].flatten(1)
    ch_bound = 1e-5 * ch.shape[1] * ch.abs().max().item()
    torch.testing.assert_close(ch.sum(1), ref["proto_channel_stats"][:, 4], rtol=0, atol=ch_bound)


@pytest.mark.parametrize("name", MODELS)
@torch.no_grad()
def test_unfused_and_fused_match_official(name: str) -> None:
    fx = _fixture(name)
    model = _recipe_model(name)
    x = fixture_input(fx)
    out = model(x)
    before = official_pred(out)
    check_outputs(name, before, out.prototypes, fx["outputs"]["unfused"], fx["subsample_step"])
    model.deploy()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    out = model(x)
    after = official_pred(out)
    check_outputs(f"{name} fused", after, out.prototypes, fx["outputs"]["fused"],
                  fx["subsample_step"])  # fmt: skip
    torch.testing.assert_close(after[..., :4], before[..., :4], rtol=3e-4, atol=1e-2)
    torch.testing.assert_close(after[..., 4:85], before[..., 4:85], rtol=0, atol=1e-4)


def official_masks(fx: dict) -> np.ndarray:
    post = fx["postprocess"]
    k, h, w = post["masks_shape"]
    bits = np.unpackbits(post["masks_packed"].numpy(), axis=1, bitorder="big")
    return bits[:, : h * w].reshape(k, h, w).astype(bool)


@pytest.mark.parametrize("fused", [False, True])
@torch.no_grad()
def test_postprocess_masks_match_official(fused: bool) -> None:
    """NMS (conf 0.965, iou 0.45, best class) then process_mask (crop at 160, upsample to 640):
    the same 8 detections, and each mask has IoU >= 0.99 with the official one."""
    fx = _fixture("yolov5n-seg")
    post = fx["postprocess"]
    model = _recipe_model("yolov5n-seg")
    if fused:
        model.deploy()
    out = model(fixture_input(fx))
    (det,) = model.postprocess_segments(
        out, conf=post["conf_thres"], iou=post["iou_thres"], max_det=post["max_det"]
    )
    ref = post["det"]
    assert len(det.boxes) == len(ref) == 8
    torch.testing.assert_close(det.boxes, ref[:, :4], rtol=3e-4, atol=1e-2)
    torch.testing.assert_close(det.scores, ref[:, 4], rtol=0, atol=1e-4)
    assert det.labels.tolist() == ref[:, 5].long().tolist()
    scale = ref[:, 6:].abs().max().item()
    torch.testing.assert_close(det.coefficients, ref[:, 6:], rtol=0, atol=1e-4 * scale)
    masks = process_masks(det.prototypes, det.coefficients, det.boxes, (640, 640))
    expected = torch.from_numpy(official_masks(fx))
    assert masks.shape == expected.shape == (8, 640, 640)
    iou = mask_iou(masks, expected).diagonal()
    assert (iou >= 0.99).all(), iou
    assert masks.flatten(1).sum(1).tolist() == post["mask_areas"].tolist()
    differing = (masks != expected).sum().item()
    ERRORS[f"masks differing pixels fused={fused}"] = differing
    ERRORS[f"min mask IoU fused={fused}"] = iou.min().item()


@torch.no_grad()
def test_retina_masks_upsample_before_cropping() -> None:
    """retina=True: upsample the probabilities to 640 first, then crop with the input-pixel box.
    Inside the box it equals thresholding the bilinear upsampling of the uncropped map."""
    fx = _fixture("yolov5n-seg")
    model = _recipe_model("yolov5n-seg")
    out = model(fixture_input(fx))
    (det,) = model.postprocess_segments(out, conf=0.9, iou=0.45, max_det=1000)
    assert len(det.boxes) > 20
    retina = process_masks(det.prototypes, det.coefficients, det.boxes, (640, 640), retina=True)
    probs = (det.coefficients @ det.prototypes.view(32, -1)).sigmoid().view(-1, 1, 160, 160)
    full = torch.nn.functional.interpolate(probs, (640, 640), mode="bilinear")[:, 0] > 0.5
    cols, rows = torch.arange(640).view(1, 1, -1), torch.arange(640).view(1, -1, 1)
    b = det.boxes[:, :, None, None]
    inside = (cols >= b[:, 0]) & (cols < b[:, 2]) & (rows >= b[:, 1]) & (rows < b[:, 3])
    assert torch.equal(retina, full & inside)
    default = process_masks(det.prototypes, det.coefficients, det.boxes, (640, 640))
    assert not torch.equal(retina, default)  # the two orders differ at the box edges


def test_print_errors() -> None:  # runs last in this module; shows the figures with -s
    print({k: f"{v:.3g}" for k, v in sorted(ERRORS.items())})
