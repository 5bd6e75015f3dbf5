"""DAMO-YOLO's TinyNAS backbones as classifiers (damoyolo-{t,s,m,l,ns,nm,nl}-cls).

DAMO-YOLO releases no classifiers; these carry YOLOv5's classification head design on the
searched backbone, so both families can be compared on a user's classification data:
- the backbone is the detector's, unchanged (`backbone.*` keys, its SPP included), so a
  DAMO-YOLO detection checkpoint initialises it; the head reads its stride-32 output;
- the head is YOLOv5's Classify (1x1 Conv+BN+SiLU to 1280, average pool, dropout, linear;
  `head.conv.*`, `head.linear.*`);
- the input is preprocessed like every classifier (centred square crop, resize to 224) but
  keeps the family's pixel convention: RGB, raw 0..255, no mean/std (what the detection
  backbones were trained on).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...data.imagenet_classes import imagenet_names
from ...hyp import register_hyp
from ...nn.classify import ClassifyHead
from ...registry import register_model
from ..base import Classifier
from ..classify_recipe import CLASSIFY, PRESET
from ..classify_transform import ClassifyTransform
from . import recipe as _detection_presets  # noqa: F401  (first: the family default)
from .model import DamoVariant
from .tinynas import STRUCTURES, TinyNASCSP, TinyNASMob, TinyNASRes
from .variants import VARIANTS


class DamoClassifier(Classifier):
    """TinyNAS backbone -> Classify head on its stride-32 output."""

    family = "damoyolo"

    def __init__(
        self,
        variant: DamoVariant,
        num_classes: int = 1000,
        names: dict[int, str] | Sequence[str] | None = None,
        dropout: float = 0.0,
    ) -> None:
        if names is None and num_classes == 1000:
            names = imagenet_names()
        rule = ClassifyTransform(divisor=1.0, mean=None, std=None)
        super().__init__(num_classes, names, rule, imgsz=224, stride=32)
        self.variant = variant
        structure = STRUCTURES[variant.structure]
        if variant.backbone == "res":
            self.backbone: nn.Module = TinyNASRes(structure, variant.act)
        elif variant.backbone == "csp":
            self.backbone = TinyNASCSP(structure, variant.act)
        else:
            self.backbone = TinyNASMob(structure)
        self.head = ClassifyHead(structure.out_channels[-1], num_classes, dropout=dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's stride-32 output."""
        return self.backbone(x)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _register(base: str) -> None:
    name = f"{base}-cls"

    @register_model(name, family="damoyolo", imgsz=224, task="classify")
    def build(
        num_classes: int = 1000,
        names: dict[int, str] | Sequence[str] | None = None,
        dropout: float = 0.0,
    ) -> DamoClassifier:
        return DamoClassifier(VARIANTS[base], num_classes=num_classes, names=names,
                              dropout=dropout)  # fmt: skip

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = f"TinyNAS backbone of {base} with YOLOv5's Classify head."


for _base in VARIANTS:
    _register(_base)
register_hyp("damoyolo", PRESET, CLASSIFY)
