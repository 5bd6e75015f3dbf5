"""YOLOv5 v7.0 classifiers (yolov5{n,s,m,l,x}-cls), built as upstream builds them.

Upstream's classify/train.py turns a detection model into a classifier: it keeps layers 0-8 of
the P5 detector (stem, CSP stages down to stride 32) and puts a Classify head where the SPPF was
(`model.9`: 1x1 conv to 1280, global average pool, dropout, linear). The keys are the official
ones (`model.0` ... `model.8`, `model.9.conv.*`, `model.9.linear.*`), so official `-cls` files and
the backbone of detection files load directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...data.imagenet_classes import imagenet_names
from ...hyp import register_hyp
from ...nn.blocks import C3, make_divisible
from ...nn.blocks import ConvBNAct as Conv
from ...nn.classify import ClassifyHead
from ...registry import register_model
from ..base import Classifier
from ..classify_recipe import CLASSIFY, PRESET
from ..classify_transform import ClassifyTransform
from . import recipe as _detection_presets  # noqa: F401  (first: the family default)
from .model import YOLOv5Scale, _stem_to_p4
from .variants import SCALES

CUTOFF = 10  # upstream's default: layers 0..9 are kept, 9 (the SPPF) becomes the head


class YOLOv5Classifier(Classifier):
    """YOLOv5 CSP-Darknet backbone (detection layers 0-8) with the Classify head."""

    family = "yolov5"

    def __init__(
        self,
        scale: YOLOv5Scale,
        num_classes: int = 1000,
        names: dict[int, str] | Sequence[str] | None = None,
        dropout: float = 0.0,
    ) -> None:
        if scale.p6:
            raise ValueError("YOLOv5 classifiers are built from the P5 models (n, s, m, l, x)")
        if names is None and num_classes == 1000:
            names = imagenet_names()
        super().__init__(num_classes, names, ClassifyTransform(), imgsz=224, stride=32)
        self.scale = scale

        def c(ch: int) -> int:
            return make_divisible(ch * scale.width, 8)

        def r(n: int) -> int:
            return max(round(n * scale.depth), 1) if n > 1 else n

        layers = [*_stem_to_p4(c, r), Conv(c(512), c(1024), 3, 2), C3(c(1024), c(1024), r(3))]
        head = ClassifyHead(c(1024), num_classes, dropout=dropout)
        self.model = nn.ModuleList([*layers, head])

    @property
    def head(self) -> ClassifyHead:
        return self.model[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-32 backbone output (input of the head)."""
        for layer in self.model[:-1]:
            x = layer(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# name: ImageNet-1k top-1, top-5 (%) at 224, params (M), GFLOPs at 224, ONNX CPU ms (Colab Pro),
# TensorRT FP16 V100 ms: the v6.2 release table of the v7.0 README (spec section 1.3).
_PUBLISHED = {
    "yolov5n": (64.6, 85.4, 2.5, 0.5, 3.3, 0.5),
    "yolov5s": (71.5, 90.2, 5.4, 1.4, 6.6, 0.6),
    "yolov5m": (75.9, 92.9, 12.9, 3.9, 15.5, 0.9),
    "yolov5l": (78.0, 94.0, 26.5, 8.5, 26.9, 1.4),
    "yolov5x": (79.0, 94.4, 48.1, 15.9, 54.3, 1.8),
}
_KEYS = ("top1", "top5", "params_m", "gflops", "latency_ms", "trt_v100_ms")


def _register(base: str) -> None:
    name = f"{base}-cls"
    published = dict(zip(_KEYS, _PUBLISHED[base], strict=True))
    published["source"] = "ultralytics/yolov5 v7.0 README (classification, v6.2)"
    published["latency_setup"] = "ONNX Runtime FP32 CPU b1 at 224, Colab Pro"

    @register_model(name, family="yolov5", imgsz=224, published=published, task="classify")
    def build(
        num_classes: int = 1000,
        names: dict[int, str] | Sequence[str] | None = None,
        dropout: float = 0.0,
    ) -> YOLOv5Classifier:
        return YOLOv5Classifier(SCALES[base], num_classes=num_classes, names=names, dropout=dropout)

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = f"YOLOv5 v7.0 classifier '{name}' ({base} layers 0-8 + Classify)."


for _base in _PUBLISHED:
    _register(_base)
register_hyp("yolov5", PRESET, CLASSIFY)
