"""DAMO-YOLO's hyperparameter section and the official v0.3 training recipes as presets (per
model size)."""

from __future__ import annotations

from ...hyp import Hyp, register_hyp, register_section, register_short

# The shared keys only: the loss weights (QFL 1.0, GIoU 2.0, DFL 0.25) are fixed by the official
# recipe, so YOLOv5's loss gains (box=, cls=, obj=, ...) are refused for this family.
register_section("damoyolo", Hyp, title="DAMO-YOLO")

# SGD (Nesterov) at 0.01 per 64 images, quadratic warmup over 5 epochs, cosine to 5% then flat
# for the last 16 epochs without mosaic/mixup/affine, EMA 0.9998, no gradient clipping and no
# accumulation; mosaic with scale U(0.1, 2.0), rotation 10, translation 0.2; DAMO-style mixup 0.15;
# no HSV jitter. Boxes more elongated than 20:1 are dropped after a warp.
BASE = Hyp(
    optimizer="SGD", lr0=0.04, lr_per_image=0.01 / 64, lrf=0.05, momentum=0.9, weight_decay=5e-4,
    schedule="cosine_flat", no_aug_epochs=16, warmup_epochs=5.0, warmup="quadratic",
    warmup_momentum=0.9, warmup_bias_lr=0.0, nbs=0, grad_clip=0.0, ema_decay=0.9998,
    ema_tau=2000.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0, degrees=10.0, translate=0.2, shear=2.0,
    scale_range=[0.1, 2.0], perspective=0.0, flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.15,
    mixup_style="damo", box_aspect_max=20.0, min_box_area=4.0,
)  # fmt: skip
T = BASE.replace(shear=0.2)
# Nano: AdamW at 0.001 per 64 images, decay 1e-2, mosaic built at 640 then resized to 416
NANO = BASE.replace(optimizer="AdamW", lr_per_image=0.001 / 64, lr0=0.004, weight_decay=1e-2,
                    shear=0.2, mosaic_size=640)  # fmt: skip
NANO_S = NANO.replace(scale_range=[0.75, 1.25])

register_hyp("damoyolo", "damo-sml", BASE, default=True)
register_hyp("damoyolo", "damo-t", T)
register_hyp("damoyolo", "damo-nano", NANO)
register_hyp("damoyolo", "damo-ns", NANO_S)
# hyp=short, on top of each model's preset: AdamW at a fixed 0.002 (not scaled per image), light
# mosaic built at the training size, no mixup, scale U(0.5, 1.5), one warmup epoch, three closing
# epochs without augmentation.
# Measured on the 200-image shapes set at 160, 20 epochs: T AP50 0.34, Ns 0.42.
register_short("damoyolo", {"optimizer": "AdamW", "lr0": 0.002, "lr_per_image": 0.0,
                            "weight_decay": 0.0005,
                            "warmup_epochs": 1.0, "no_aug_epochs": 3, "scale_range": [0.5, 1.5],
                            "mixup": 0.0, "mosaic": 0.5, "mosaic_size": 0})  # fmt: skip
