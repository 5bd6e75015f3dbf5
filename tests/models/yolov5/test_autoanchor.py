"""YOLOv5 AutoAnchor: anchors that fit the labels badly are evolved and stored in the model."""

from __future__ import annotations

import numpy as np
import torch

from yoloarena.data.dataset import DetectionDataset
from yoloarena.data.report import CheckReport
from yoloarena.models.yolov5.autoanchor import anchor_metrics, check_anchors, label_wh
from yoloarena.registry import build_model


def fake_dataset(wh: np.ndarray) -> DetectionDataset:
    n = len(wh)
    boxes = np.concatenate([np.full((n, 2), 10.0), 10.0 + wh], 1).astype(np.float32)
    return DetectionDataset(
        files=[f"{i}.jpg" for i in range(n)], shapes=np.full((n, 2), 640), boxes=boxes,
        labels=np.zeros(n, np.int64), crowd=np.zeros(n, bool), areas=wh.prod(1).astype(np.float32),
        offsets=np.arange(n + 1), image_ids=np.arange(n), names={0: "a"}, category_ids=[0],
        report=CheckReport(),
    )  # fmt: skip


def test_good_anchors_are_kept() -> None:
    model = build_model("yolov5n", num_classes=1)
    rng = np.random.default_rng(0)
    ds = fake_dataset(rng.uniform(20, 300, (400, 2)))
    before = model.detect.anchors.clone()
    assert not check_anchors(model, ds, 640, thr=4.0)
    assert torch.equal(model.detect.anchors, before)


def test_bad_anchors_are_evolved_and_stored() -> None:
    model = build_model("yolov5n", num_classes=1)
    rng = np.random.default_rng(1)
    wh = np.stack([rng.uniform(200, 400, 600), rng.uniform(4, 8, 600)], 1)  # very wide, thin boxes
    ds = fake_dataset(wh)
    stride = torch.tensor([8.0, 16.0, 32.0]).view(-1, 1, 1)
    old = (model.detect.anchors * stride).view(-1, 2).numpy()
    labels = label_wh(ds, 640, np.random.default_rng(0))
    bpr_before, _ = anchor_metrics(old, labels, 4.0)
    assert bpr_before < 0.98
    assert check_anchors(model, ds, 640, thr=4.0)
    new = (model.detect.anchors * stride).view(-1, 2).numpy()
    bpr_after, _ = anchor_metrics(new, labels, 4.0)
    assert bpr_after > bpr_before and bpr_after > 0.9
    areas = new.prod(1)
    assert (np.diff(areas) >= 0).all()  # small anchors on the fine levels
