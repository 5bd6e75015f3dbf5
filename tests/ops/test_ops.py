"""Issue 2, must-show 5: properties of box ops, letterbox and NMS (seeded random cases)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloarena import ops
from yoloarena.ops.boxes import box_area


def random_boxes(n: int, gen: torch.Generator, size: float = 640.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * size
    wh = torch.rand(n, 2, generator=gen) * size / 4 + 1
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("seed", range(5))
def test_format_round_trips(seed: int) -> None:
    b = random_boxes(100, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(ops.cxcywh_to_xyxy(ops.xyxy_to_cxcywh(b)), b, rtol=0, atol=1e-4)
    torch.testing.assert_close(ops.ltwh_to_xyxy(ops.xyxy_to_ltwh(b)), b, rtol=0, atol=1e-4)
    n = b.numpy().astype(np.float64)
    np.testing.assert_allclose(ops.cxcywh_to_xyxy(ops.xyxy_to_cxcywh(n)), n, atol=1e-9)
    c = ops.xyxy_to_cxcywh(b)
    torch.testing.assert_close(c[:, 2:], b[:, 2:] - b[:, :2])
    ltwh = ops.xyxy_to_ltwh(b)
    torch.testing.assert_close(ltwh[:, :2], b[:, :2])


@pytest.mark.parametrize("seed", range(5))
def test_iou_symmetry_and_bounds(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    a, b = random_boxes(30, g), random_boxes(40, g)
    iou = ops.box_iou(a, b)
    torch.testing.assert_close(iou, ops.box_iou(b, a).T)
    assert iou.min() >= 0 and iou.max() <= 1
    torch.testing.assert_close(ops.box_iou(a, a).diag(), torch.ones(30))
    giou = ops.generalized_box_iou(a, b)
    assert giou.min() >= -1 and giou.max() <= 1 and (giou <= iou + 1e-6).all()
    ciou = ops.complete_box_iou(a, b)
    assert (ciou <= iou + 1e-6).all()
    # hand-checked case: two unit squares overlapping by half
    two = torch.tensor([[0.0, 0, 2, 2], [1.0, 0, 3, 2]])
    assert ops.box_iou(two[:1], two[1:]).item() == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(20))
def test_unletterbox_inverts_letterbox(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(20, 1500, 2))
    img = np.zeros((h, w, 3), np.uint8)
    shape = (int(rng.integers(1, 12)) * 32, int(rng.integers(1, 12)) * 32)
    kwargs = [{}, {"auto": True}, {"stretch": True}, {"scaleup": False}][seed % 4]
    out, info = ops.letterbox(img, shape, **kwargs)
    assert out.shape[:2] == info.shape
    if not kwargs.get("auto"):
        assert out.shape[:2] == shape
    boxes = random_boxes(50, torch.Generator().manual_seed(seed), size=min(h, w) / 2)
    back = ops.unletterbox(ops.letterbox_boxes(boxes, info), info)
    torch.testing.assert_close(back, boxes, rtol=0, atol=1e-3)


def test_letterbox_matches_yolov5_rules() -> None:
    img = np.zeros((1080, 810, 3), np.uint8)  # bus.jpg
    out, info = ops.letterbox(img, 640, auto=True)
    assert out.shape[:2] == (640, 480) and info.pad_xy == (0.0, 0.0)
    out, info = ops.letterbox(np.zeros((720, 1280, 3), np.uint8), 640, auto=True)  # zidane.jpg
    assert out.shape[:2] == (384, 640) and info.pad_xy == (0.0, 12.0)
    assert ops.batch_shape([(720, 1280)], 640) == (384, 640)
    out, info = ops.letterbox(np.zeros((100, 75, 3), np.uint8), 64)  # odd padding: extra at right
    assert out.shape[:2] == (64, 64) and info.pad_xy == (8.0, 0.0)
    assert (out[:, :8] == 114).all() and (out[:, 8:56] == 0).all() and (out[:, 56:] == 114).all()


def slow_nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float, labels=None) -> list[int]:
    """Greedy NMS by descending score; equal scores keep their input order."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i].item())
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            same = labels is None or labels[i] == labels[j]
            if same and ops.box_iou(boxes[i : i + 1], boxes[j : j + 1]).item() > iou:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(10))
def test_nms_equals_slow_reference(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n = 60
    boxes = random_boxes(n, g, size=200)
    scores = torch.rand(n, generator=g)
    if seed % 2:  # ties: many equal scores
        scores = (scores * 4).floor() / 4
    labels = torch.randint(0, 3, (n,), generator=g)
    for iou in (0.3, 0.5, 0.7):
        assert ops.nms(boxes, scores, iou).tolist() == slow_nms(boxes, scores, iou)
        got = ops.nms(boxes, scores, iou, labels=labels).tolist()
        assert sorted(got) == sorted(slow_nms(boxes, scores, iou, labels))
        assert ops.nms(boxes, scores, iou, max_det=5).tolist() == slow_nms(boxes, scores, iou)[:5]


def test_nms_empty_and_identical_boxes() -> None:
    empty = torch.zeros(0, 4)
    assert ops.nms(empty, torch.zeros(0), 0.5).numel() == 0
    b, s, lab = ops.multiclass_nms(empty, torch.zeros(0, 3), conf=0.1)
    assert b.shape == (0, 4) and s.shape == (0,) and lab.shape == (0,)
    same = torch.tensor([[0.0, 0, 10, 10]] * 3)
    assert ops.nms(same, torch.tensor([0.5, 0.9, 0.5]), 0.5).tolist() == [1]


def test_multiclass_nms_modes() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [100.0, 100, 110, 110]])
    scores = torch.tensor([[0.9, 0.8], [0.1, 0.85], [0.05, 0.3]])
    b, s, lab = ops.multiclass_nms(boxes, scores, conf=0.25, iou=0.5)  # best class per box
    assert lab.tolist() == [0, 1, 1] and s.tolist() == pytest.approx([0.9, 0.85, 0.3])
    b, s, lab = ops.multiclass_nms(boxes, scores, conf=0.25, iou=0.5, agnostic=True)
    assert lab.tolist() == [0, 1] and b[1].tolist() == [100, 100, 110, 110]
    b, s, lab = ops.multiclass_nms(boxes, scores, conf=0.25, iou=0.5, multi_label=True)
    # class 1 of box 0 (0.8) overlaps box 1 (0.85, IoU 0.68) and is suppressed
    got = sorted(zip(lab.tolist(), s.tolist(), strict=True))
    assert [c for c, _ in got] == [0, 1, 1]
    assert [v for _, v in got] == pytest.approx([0.9, 0.3, 0.85])
    b, s, lab = ops.multiclass_nms(boxes, scores, conf=0.25, iou=0.5, classes=[1])
    assert lab.tolist() == [1, 1]
    _, s, _ = ops.multiclass_nms(boxes, scores, conf=0.25, iou=0.5, max_det=1)
    assert s.tolist() == pytest.approx([0.9])


def test_clip_and_area() -> None:
    b = torch.tensor([[-5.0, -5, 50, 700]])
    assert ops.clip_boxes(b, (600, 40)).tolist() == [[0, 0, 40, 600]]
    assert box_area(torch.tensor([[0.0, 0, 2, 3]])).item() == 6
