"""YOLOv5's hyperparameter section (its loss gains) and the official v7.0 hyperparameter files
as presets (scratch-low is the default)."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import param
from ...hyp import Hyp, register_hyp, register_section, register_short


@dataclass
class YOLOv5Hyp(Hyp):
    """The shared keys plus YOLOv5's loss gains (its loss and AutoAnchor read these)."""

    box: float = param(0.05, "box (CIoU) loss gain", ge=0)
    cls: float = param(0.5, "classification loss gain", ge=0)
    cls_pw: float = param(1.0, "classification BCE positive weight", ge=0)
    obj: float = param(1.0, "objectness loss gain", ge=0)
    obj_pw: float = param(1.0, "objectness BCE positive weight", ge=0)
    iou_t: float = param(0.2, "IoU training threshold (kept for the official files; unused)", ge=0)
    anchor_t: float = param(4.0, "anchor-multiple threshold (matching and AutoAnchor)", gt=0)
    fl_gamma: float = param(0.0, "focal loss gamma (0: plain BCE)", ge=0)
    label_smoothing: float = param(0.0, "label smoothing epsilon", ge=0, lt=1)


register_section("yolov5", YOLOv5Hyp, title="YOLOv5")

SCRATCH_LOW = YOLOv5Hyp(
    lr0=0.01, lrf=0.01, momentum=0.937, weight_decay=0.0005, warmup_epochs=3.0,
    warmup_momentum=0.8, warmup_bias_lr=0.1, box=0.05, cls=0.5, cls_pw=1.0, obj=1.0, obj_pw=1.0,
    iou_t=0.2, anchor_t=4.0, fl_gamma=0.0, hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0,
    translate=0.1, scale=0.5, shear=0.0, perspective=0.0, flipud=0.0, fliplr=0.5, mosaic=1.0,
    mixup=0.0,
)  # fmt: skip
SCRATCH_MED = SCRATCH_LOW.replace(lrf=0.1, cls=0.3, obj=0.7, scale=0.9, mixup=0.1)
SCRATCH_HIGH = SCRATCH_MED.replace()  # copy-paste (0.1 in the file) needs polygons: not used

register_hyp("yolov5", "scratch-low", SCRATCH_LOW, default=True)
register_hyp("yolov5", "scratch-med", SCRATCH_MED)
register_hyp("yolov5", "scratch-high", SCRATCH_HIGH)
# hyp=short: a few epochs on a small dataset (the compare demo): AdamW, an optimiser step every
# 8 images, one warmup epoch, lighter scale and mosaic. Measured on the 200-image shapes set at
# 160: yolov5n AP50 0.78 after 40 epochs.
register_short("yolov5", {"optimizer": "AdamW", "lr0": 0.003, "nbs": 8, "warmup_epochs": 1.0,
                          "scale": 0.25, "mosaic": 0.5})  # fmt: skip
