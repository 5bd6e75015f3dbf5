"""Test-time augmentation for DAMO-YOLO: YOLOv5's scheme on its stretched input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yoloarena.models.augment import FLIPS, SCALES, augmented_forward, scale_input
from yoloarena.registry import build_model


def _expected_rows(side: int, strides=(8, 16, 32)) -> int:
    """Rows entering NMS by the scheme's arithmetic: one row per cell of each level; each pass
    padded to a multiple of 32; the full pass without its stride-32 rows, the 0.67 pass without
    its stride-8 rows."""
    total = 0
    for k, ratio in enumerate(SCALES):
        padded = math.ceil(side * ratio / 32) * 32
        cells = [(padded // s) ** 2 for s in strides]
        total += sum(cells) - (cells[-1] if k == 0 else cells[0] if k == 2 else 0)
    return total


@pytest.mark.slow
def test_damoyolo_tta_rows_boxes_and_grey() -> None:
    torch.manual_seed(0)
    model = build_model("damoyolo-ns").eval()
    img = np.random.default_rng(0).integers(0, 255, (150, 250, 3), dtype=np.uint8)
    x, _ = model.transform([img], 256)
    assert x.shape[-2:] == (256, 256)  # stretched, no letterbox
    seen = []
    handle = model.backbone.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    try:
        with torch.inference_mode():
            out = model.forward_augment(x)
    finally:
        handle.remove()
    # the passes: 256; 0.83 -> 212 padded to 224; 0.67 -> 171 padded to 192
    assert [tuple(t.shape[-2:]) for t in seen] == [(256, 256), (224, 224), (192, 192)]
    assert torch.all(seen[1][..., 212:, :] == 114) and torch.all(seen[1][..., :, 212:] == 114)
    assert torch.equal(seen[1][..., :212, :212], seen[1][..., :212, :212].clamp(0, 255))
    assert torch.equal(
        seen[1][..., :50, :50], scale_input(x.flip(3), 0.83, 32, 114.0)[..., :50, :50]
    )
    assert out.objectness is None and out.boxes.shape[1] == _expected_rows(256) == 2489
    with torch.inference_mode():
        plain = model(x)
        single = augmented_forward(model, x, lambda lv: [v.shape[2] * v.shape[3] for v in lv],
                                   114.0, scales=(1.0,), flips=(False,))  # fmt: skip
    assert single.boxes.equal(plain.boxes) and single.scores.equal(plain.scores)
    assert FLIPS == (False, True, False) and SCALES == (1.0, 0.83, 0.67)
    (r,) = model.predict(img, imgsz=256, conf=0.01, augment=True)
    assert len(r) > 0 and r.boxes[:, 0::2].max() <= 250 and r.boxes[:, 1::2].max() <= 150
