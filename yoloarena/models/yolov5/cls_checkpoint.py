"""Reading official YOLOv5 v6.2+ classification `.pt` files (`models.yolo.ClassificationModel`).

Opened by the safe unpickler like detection files (the attached preprocessing, a torchvision
`Compose` of `utils.augmentations.CenterCrop`/`ToTensor` and `Normalize`, becomes inert
placeholders); the variant is the registered `-cls` model whose key shapes match.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsError
from ...safe_pickle import Placeholder
from ...weights import LoadedWeights, float_state_dict, register_checkpoint_reader
from .checkpoint import flatten_placeholder
from .classify import YOLOv5Classifier
from .variants import SCALES

CLASS_PATH = "models.yolo.ClassificationModel"
_HEAD = "model.9.linear.weight"


@lru_cache(maxsize=32)
def _shapes(base: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = YOLOv5Classifier(SCALES[base], num_classes=num_classes, names=[])
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def match_cls_variant(sd: dict[str, torch.Tensor], num_classes: int) -> str | None:
    """The registered `-cls` model whose keys and shapes equal sd's, if any."""
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    for base, scale in SCALES.items():
        if not scale.p6 and _shapes(base, num_classes) == shapes:
            return f"{base}-cls"
    return None


def read_official_cls(obj: Any, path: Path) -> LoadedWeights | None:
    """LoadedWeights for an official YOLOv5 classifier file, None for anything else."""
    if not isinstance(obj, dict):
        return None
    model = obj.get("ema") or obj.get("model")
    if not isinstance(model, Placeholder) or model.class_path != CLASS_PATH:
        return None
    try:
        sd = float_state_dict(flatten_placeholder(model))
    except WeightsError as e:
        raise WeightsError(f"'{path}' is not a usable YOLOv5 checkpoint: {e}") from None
    if _HEAD not in sd:
        raise WeightsError(
            f"'{path}' is a YOLOv5 classification checkpoint without the Classify head "
            "(a torchvision backbone trained by classify/train.py?); only yolov5*-cls files load"
        )
    nc = int(sd[_HEAD].shape[0])
    variant = match_cls_variant(sd, nc)
    if variant is None:
        raise WeightsError(
            f"'{path}' is a YOLOv5 classifier whose layers match no registered yolov5*-cls "
            "model (n, s, m, l, x; cutoff 10); custom architectures are not supported"
        )
    names = model.__dict__.get("names")
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    info = {k: obj.get(k) for k in ("date", "epoch") if k in obj}
    info["source"] = f"official YOLOv5 checkpoint ({CLASS_PATH})"
    return LoadedWeights(variant, sd, nc, names, info=info)


register_checkpoint_reader(read_official_cls)
