"""Issue 15 (phase 1): yolov5n-seg trains on the synthetic shapes with polygons: the loader's
masks feed the segmentation loss, and a few optimiser steps lower every loss on a fixed batch.
(The learning test with a mask AP floor comes with validation, phase 2.)
"""

from __future__ import annotations

import pytest
import torch

from yoloarena.data.load import load_dataset
from yoloarena.data.seg_loader import SegTrainDataset, build_seg_train_loader, collate_seg
from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.data.train_loader import PipelineSpec
from yoloarena.hyp import get_hyp
from yoloarena.registry import build_model


@pytest.mark.slow
def test_few_steps_lower_the_seg_loss(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("yolov5n-seg", num_classes=3, names=["circle", "square", "triangle"])
    spec = SynthSpec(n_train=12, n_val=2, imgsz=96, classes=3, max_objects=3, task="segment")
    data = load_dataset(make_synthetic(tmp_path / "shapes", spec), "train")
    hyp = get_hyp("yolov5").replace(mosaic=0.5, scale=0.2)
    train = SegTrainDataset(data, hyp, PipelineSpec(96, epochs=8, seed=0))
    loader, sampler = build_seg_train_loader(train, batch=6, workers=0)
    model.configure_criterion(hyp, 96)
    images, targets = collate_seg([train[k] for k in range(6)])
    assert targets.masks.shape == (6, 24, 24) and targets.overlap and len(targets) > 6

    def fixed_loss() -> dict:
        model.train()
        with torch.no_grad():
            return model.criterion(model(images.float() / 255), targets)

    before = fixed_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    steps = 0
    for epoch in range(5):
        sampler.set_epoch(epoch)
        for batch, batch_targets in loader:
            loss = model.criterion(model(batch.float() / 255), batch_targets)
            assert torch.isfinite(loss["total"])
            opt.zero_grad()
            loss["total"].backward()
            opt.step()
            steps += 1
    after = fixed_loss()
    assert steps == 10
    print({k: f"{before[k].item():.4f} -> {after[k].item():.4f}" for k in before})
    assert after["total"] < 0.9 * before["total"], (before, after)
    assert after["seg"] < 0.9 * before["seg"], (before, after)
