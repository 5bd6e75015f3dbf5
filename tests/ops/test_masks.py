"""Mask operations of the segmentation models (ops/masks.py) and NMS with row indices."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from yoloarena.ops import letterbox, multiclass_nms, multiclass_nms_indices
from yoloarena.ops.masks import (
    crop_masks,
    mask_iou,
    masks_to_polygons,
    process_masks,
    unletterbox_masks,
)


def test_crop_keeps_integer_pixels_inside_fractional_boxes() -> None:
    masks = torch.ones(2, 6, 8)
    boxes = torch.tensor([[1.5, 0.0, 4.0, 2.2], [0.0, 5.0, 8.0, 6.0]])
    out = crop_masks(masks, boxes)
    # columns c with 1.5 <= c < 4 -> 2, 3; rows r with 0 <= r < 2.2 -> 0, 1, 2
    expected0 = torch.zeros(6, 8)
    expected0[0:3, 2:4] = 1
    assert torch.equal(out[0], expected0)
    assert out[1].sum() == 8 and out[1, 5].sum() == 8


def test_process_masks_orders_and_shapes() -> None:
    torch.manual_seed(0)
    protos = torch.randn(32, 40, 40)
    coef = torch.randn(3, 32)
    boxes = torch.tensor([[0.0, 0.0, 160.0, 160.0], [20.0, 30.0, 90.0, 70.0], [50, 50, 51, 51.0]])
    full = process_masks(protos, coef, boxes, (160, 160))
    small = process_masks(protos, coef, boxes, (160, 160), upsample=False)
    retina = process_masks(protos, coef, boxes, (160, 160), retina=True)
    assert full.shape == retina.shape == (3, 160, 160) and small.shape == (3, 40, 40)
    assert full.dtype == torch.bool
    # an uncropped box: cropping at 40 then upsampling equals upsampling the probabilities
    probs = (coef @ protos.view(32, -1)).sigmoid().view(-1, 1, 40, 40)
    up = torch.nn.functional.interpolate(probs, (160, 160), mode="bilinear")[:, 0] > 0.5
    assert torch.equal(full[0], up[0]) and torch.equal(retina[0], up[0])
    assert not retina[1][:, :20].any() and not retina[1][:30].any()  # nothing outside its box
    assert process_masks(protos, coef[:0], boxes[:0], (160, 160)).shape == (0, 160, 160)


def test_unletterbox_masks_back_to_the_original() -> None:
    h0, w0 = 90, 160
    original = np.zeros((h0, w0), bool)
    original[20:60, 30:100] = True
    img = np.where(original[..., None], 255, 0).astype(np.uint8).repeat(3, 2)
    boxed, info = letterbox(img, 128)
    in_input = torch.from_numpy(boxed[..., 0] > 127)[None]
    back = unletterbox_masks(in_input, info, (h0, w0))
    assert back.shape == (1, h0, w0)
    assert mask_iou(back, torch.from_numpy(original)[None]).item() > 0.95


def test_mask_iou_and_polygons() -> None:
    a = torch.zeros(2, 10, 10, dtype=torch.bool)
    a[0, :5] = True
    b = torch.zeros(1, 10, 10, dtype=torch.bool)
    b[0, :, :5] = True
    iou = mask_iou(a, b)
    assert iou[0, 0].item() == pytest.approx(25 / 75) and iou[1, 0].item() == 0.0
    assert mask_iou(a[1:], a[1:]).item() == 1.0  # two empty masks
    m = np.zeros((50, 60), np.uint8)
    cv2.fillPoly(m, [np.array([[5, 5], [50, 10], [30, 45]], np.int32)], 1)
    (poly, empty) = masks_to_polygons(np.stack([m, np.zeros_like(m)]))
    redrawn = np.zeros_like(m)
    cv2.fillPoly(redrawn, [poly.astype(np.int32)], 1)
    assert (redrawn & m).sum() / (redrawn | m).sum() > 0.97 and empty.shape == (0, 2)


def test_nms_indices_point_at_the_kept_rows() -> None:
    torch.manual_seed(1)
    xy = torch.rand(200, 2) * 300
    boxes = torch.cat((xy, xy + 20 + torch.rand(200, 2) * 60), 1)
    scores = torch.rand(200, 4)
    for multi_label in (False, True):
        rows, s, c = multiclass_nms_indices(boxes, scores, 0.3, 0.5, 100, multi_label)
        ref_boxes, ref_s, ref_c = multiclass_nms(boxes, scores, 0.3, 0.5, 100, multi_label)
        assert torch.equal(boxes[rows], ref_boxes) and torch.equal(s, ref_s)
        assert torch.equal(c, ref_c) and torch.equal(scores[rows, c], s)
