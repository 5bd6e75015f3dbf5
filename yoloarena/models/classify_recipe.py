"""The classification training recipe of YOLOv5 v7.0's classify/train.py.

Every family registers it as its `classify` preset (the default of its classifiers), so YOLOv5,
DAMO-YOLO and torchvision classifiers train alike: Adam (beta1 0.9) at lr0 0.001, weight decay
5e-5 (no nominal-batch scaling, no accumulation), linear decay to lr0 * 0.01 stepped once per
epoch (`cos_lr=True`: cosine), no warmup (upstream has none; `warmup_epochs=` adds YOLOv5's),
gradient norm clipped at 10, EMA (0.9999, tau 2000), cross-entropy with label smoothing 0.1, AMP
on CUDA.

Augmentation, mapped onto the shared Hyp keys: `scale_range` = the random resized crop's area
range (0.08-1), `fliplr` / `flipud` = the flips (0.5 / 0), `hsv_v` = brightness and contrast
jitter, `hsv_s` = saturation jitter (0.4 each), `hsv_h` = hue jitter (0).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import param
from ..hyp import Hyp


@dataclass
class ClassifyHyp(Hyp):
    """The shared keys plus what a classifier's loss reads."""

    label_smoothing: float = param(0.0, "label smoothing epsilon", ge=0, lt=1)


CLASSIFY = ClassifyHyp(
    optimizer="Adam", lr0=0.001, lrf=0.01, momentum=0.9, weight_decay=5e-5, schedule="linear",
    warmup_epochs=0.0, warmup_bias_lr=0.0, nbs=0, grad_clip=10.0, ema_decay=0.9999,
    ema_tau=2000.0, label_smoothing=0.1, hsv_h=0.0, hsv_s=0.4, hsv_v=0.4, fliplr=0.5, flipud=0.0,
    scale_range=[0.08, 1.0], degrees=0.0, translate=0.0, scale=0.0, shear=0.0, perspective=0.0,
    mosaic=0.0, mixup=0.0,
)  # fmt: skip
PRESET = "classify"
