"""Registered torchvision baselines, and the reader of local torchvision state-dict files.

Published: ImageNet-1k top-1/top-5 (%) at 224 of these architectures trained with YOLOv5's
classification recipe, from the v7.0 README's classification table (90 epochs, 4xA100).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torchvision

from ...hyp import register_hyp, register_section
from ...registry import register_model
from ...weights import LoadedWeights, float_state_dict, register_checkpoint_reader
from ..classify_recipe import CLASSIFY, PRESET, ClassifyHyp
from .model import TorchvisionClassifier

# arch: (published top-1, top-5, params M, GFLOPs at 224, ONNX CPU ms, TensorRT V100 ms), the
# last layer's weight key
_ARCHS: dict[str, tuple[tuple[float, ...] | None, str]] = {
    "resnet18": ((70.3, 89.5, 11.7, 3.7, 11.2, 0.5), "fc.weight"),
    "resnet34": ((73.9, 91.8, 21.8, 7.4, 20.6, 0.9), "fc.weight"),
    "resnet50": ((76.8, 93.4, 25.6, 8.5, 23.4, 1.0), "fc.weight"),
    "resnet101": ((78.5, 94.3, 44.5, 15.9, 42.1, 1.9), "fc.weight"),
    "efficientnet_b0": ((75.1, 92.4, 5.3, 1.0, 12.5, 1.3), "classifier.1.weight"),
    "efficientnet_b1": ((76.4, 93.2, 7.8, 1.5, 14.9, 1.6), "classifier.1.weight"),
    "efficientnet_b2": ((76.6, 93.4, 9.1, 1.7, 15.9, 1.6), "classifier.1.weight"),
    "efficientnet_b3": ((77.7, 94.0, 12.2, 2.4, 18.9, 1.9), "classifier.1.weight"),
    "mobilenet_v3_small": (None, "classifier.3.weight"),
    "mobilenet_v3_large": (None, "classifier.3.weight"),
}
_KEYS = ("top1", "top5", "params_m", "gflops", "latency_ms", "trt_v100_ms")


def _register(arch: str) -> None:
    figures, _ = _ARCHS[arch]
    published: dict[str, Any] = {}
    if figures:
        published = dict(zip(_KEYS, figures, strict=True))
        published["source"] = "ultralytics/yolov5 v7.0 README (classification, YOLOv5 recipe)"
        published["latency_setup"] = "ONNX Runtime FP32 CPU b1 at 224, Colab Pro"

    @register_model(arch, family="torchvision", imgsz=224, published=published, task="classify")
    def build(
        num_classes: int = 1000,
        names: dict[int, str] | Sequence[str] | None = None,
        dropout: float | None = None,
    ) -> TorchvisionClassifier:
        builder = getattr(torchvision.models, arch)
        return TorchvisionClassifier(arch, builder, num_classes, names, dropout)

    build.__name__ = build.__qualname__ = arch
    build.__doc__ = (
        f"torchvision {arch} (random init; load a local state dict with yoloarena.load)."
    )


for _arch in _ARCHS:
    _register(_arch)
register_section("torchvision", ClassifyHyp, title="torchvision")
register_hyp("torchvision", PRESET, CLASSIFY)


@lru_cache(maxsize=32)
def _shapes(arch: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _plain_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    for sd in (obj, *(obj.get(k) for k in ("state_dict", "model") if isinstance(obj, dict))):
        if isinstance(sd, dict) and sd and all(isinstance(v, torch.Tensor) for v in sd.values()):
            return {str(k).removeprefix("module."): v for k, v in sd.items()}
    return None


def read_torchvision(obj: Any, path: Path) -> LoadedWeights | None:
    """A torchvision classification state dict of a registered architecture, else None."""
    sd = _plain_state_dict(obj)
    if sd is None:
        return None
    for arch, (_, head) in _ARCHS.items():
        if head not in sd or sd[head].ndim != 2:
            continue
        nc = int(sd[head].shape[0])
        if {k: tuple(v.shape) for k, v in sd.items()} == _shapes(arch, nc):
            sd = {f"model.{k}": v for k, v in float_state_dict(sd).items()}
            info = {"source": f"torchvision {arch} state dict"}
            return LoadedWeights(arch, sd, nc, None, info=info)
    return None


register_checkpoint_reader(read_torchvision)
