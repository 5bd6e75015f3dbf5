"""The official YOLOv5 v7.0 hyperparameter files as presets (scratch-low is the default)."""

from __future__ import annotations

from ...hyp import Hyp, register_hyp, register_short

SCRATCH_LOW = Hyp(
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
