"""Reading official YOLOv5 (v6.0+) `.pt` files, opened by the safe unpickler.

The file pickles the whole model; the unpickler turns every module into a Placeholder that keeps
its `_parameters`, `_buffers` and `_modules`. Walking that tree gives the official state_dict; the
variant is the registered model whose key shapes match.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsError
from ...safe_pickle import Placeholder
from ...weights import LoadedWeights, float_state_dict, register_checkpoint_reader
from .model import YOLOv5
from .variants import SCALES

_DETECTION = {"models.yolo.Model", "models.yolo.DetectionModel"}
_OTHER_TASKS = {
    "models.yolo.SegmentationModel": "segmentation",
}
_READ_ELSEWHERE = {"models.yolo.ClassificationModel"}  # cls_checkpoint.read_official_cls


def flatten_placeholder(module: Placeholder, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state_dict of a pickled nn.Module tree: parameters and persistent buffers."""
    state = module.__dict__
    out: dict[str, torch.Tensor] = {}
    for name, p in (state.get("_parameters") or {}).items():
        if p is not None:
            out[prefix + name] = p.detach()
    skip = state.get("_non_persistent_buffers_set") or set()
    for name, b in (state.get("_buffers") or {}).items():
        if b is not None and name not in skip:
            out[prefix + name] = b
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(flatten_placeholder(child, f"{prefix}{name}."))
    return out


@lru_cache(maxsize=64)
def _shapes(variant: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = YOLOv5(SCALES[variant], num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def match_variant(sd: dict[str, torch.Tensor], num_classes: int) -> str | None:
    """The registered variant whose keys and shapes equal sd's, if any."""
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    for variant in SCALES:
        if _shapes(variant, num_classes) == shapes:
            return variant
    return None


def _head_classes(sd: dict[str, torch.Tensor]) -> int:
    anchor_keys = [k for k in sd if k.endswith(".anchors")]
    if not anchor_keys:
        raise WeightsError("no Detect anchors in the checkpoint")
    head = anchor_keys[0].rsplit(".", 1)[0]
    na = sd[anchor_keys[0]].shape[1]
    return sd[f"{head}.m.0.weight"].shape[0] // na - 5


def read_official(obj: Any, path: Path) -> LoadedWeights | None:
    """LoadedWeights for an official YOLOv5 checkpoint, None if obj is something else."""
    if not isinstance(obj, dict):
        return None
    model = obj.get("ema") or obj.get("model")
    if not isinstance(model, Placeholder) or not model.class_path.startswith("models."):
        return None
    if model.class_path in _READ_ELSEWHERE:
        return None
    if model.class_path in _OTHER_TASKS:
        task = _OTHER_TASKS[model.class_path]
        raise WeightsError(f"'{path}' is a YOLOv5 {task} checkpoint; only detection is supported")
    if model.class_path not in _DETECTION:
        raise WeightsError(f"'{path}' holds '{model.class_path}', not a YOLOv5 detection model")
    sd = float_state_dict(flatten_placeholder(model))
    if "model.0.conv.conv.weight" in sd:
        raise WeightsError(
            f"'{path}' is a YOLOv5 checkpoint from before v6.0 (Focus stem); only v6.0+ files "
            "(v6.x, v7.0) are supported"
        )
    nc = _head_classes(sd)
    variant = match_variant(sd, nc)
    if variant is None:
        yaml = model.__dict__.get("yaml") or {}
        raise WeightsError(
            f"'{path}' is a YOLOv5 model whose layers match no registered variant "
            f"(depth {yaml.get('depth_multiple')}, width {yaml.get('width_multiple')}); "
            "custom architectures are not supported"
        )
    names = model.__dict__.get("names")
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    info = {k: obj.get(k) for k in ("date", "epoch") if k in obj}
    info["source"] = f"official YOLOv5 checkpoint ({model.class_path})"
    return LoadedWeights(variant, sd, nc, names, info=info)


register_checkpoint_reader(read_official)
