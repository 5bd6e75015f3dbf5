"""Issue 14, must-show 4: validation with test-time augmentation (augment=True) on coco128 keeps
the official yolov5n.pt's AP (the official val.py AP without augmentation, scored by COCO eval
in shared/reference/yolov5n_val_coco128.json, minus at most 0.01)."""

from __future__ import annotations

import pytest
from conftest import shared_json

from yoloarena.engine.validator import validate


@pytest.mark.slow
def test_val_with_tta_keeps_ap(yolov5n_fused, coco128_yolo) -> None:
    ref = shared_json("reference", "yolov5n_val_coco128.json")
    official = ref["pycocotools"]["instances_train2017_from_yolo.json"]["stats"]
    assert ref["settings"]["augment"] is False
    result = validate(yolov5n_fused, coco128_yolo, imgsz=640, batch=32, augment=True)
    stats = result.metrics.stats
    print(f"AP with TTA {stats['AP']:.4f} (official without {official['AP']:.4f}), "
          f"AP50 {stats['AP50']:.4f} ({official['AP50']:.4f})")  # fmt: skip
    assert result.protocol["augment"] is True
    assert stats["AP"] >= official["AP"] - 0.01  # measured: 0.3674 against 0.3622
