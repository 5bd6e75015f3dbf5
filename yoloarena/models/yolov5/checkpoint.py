"""Reading official YOLOv5 (v6.0+) detection and segmentation `.pt` files, opened by the safe
unpickler.

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
from ...registry import build_model
from ...safe_pickle import Placeholder
from ...weights import (
    LoadedWeights,
    check_num_classes,
    float_state_dict,
    register_checkpoint_reader,
)
from .variants import SCALES, SEG_SCALES

_DETECTION = {"models.yolo.Model", "models.yolo.DetectionModel"}
_SEGMENTATION = {"models.yolo.SegmentationModel"}
_READ_ELSEWHERE = {"models.yolo.ClassificationModel"}  # cls_checkpoint.read_official_cls


MAX_MODULES = 100_000  # official models have a few hundred


def flatten_placeholder(module: Placeholder, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state_dict of a pickled nn.Module tree: parameters and persistent buffers, in
    nn.Module order. Each module is visited once: a tree that is cyclic or shares a module
    (an exponential walk for a few bytes of pickle) is refused, as is one of absurd size."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Placeholder]] = [(prefix, module)]
    while stack:
        prefix, node = stack.pop()
        where = prefix[:-1] if len(prefix) <= 60 else "..." + prefix[-58:-1]
        if not isinstance(node, Placeholder):
            raise WeightsError(f"module '{where}' is a {type(node).__name__}, not a module")
        if id(node) in seen:
            raise WeightsError(
                f"module '{where}' appears twice in the module tree (cyclic or shared)"
            )
        seen.add(id(node))
        if len(seen) > MAX_MODULES:
            raise WeightsError(f"the module tree has more than {MAX_MODULES} modules")
        state = node.__dict__
        params, buffers = state.get("_parameters") or {}, state.get("_buffers") or {}
        children = state.get("_modules") or {}
        skip = state.get("_non_persistent_buffers_set") or set()
        if not all(isinstance(x, dict) for x in (params, buffers, children)):
            raise WeightsError(f"module '{where}' has no parameter/buffer/module dicts")
        for name, p in params.items():
            if p is not None:
                out[prefix + str(name)] = _tensor(p, prefix + str(name)).detach()
        for name, b in buffers.items():
            if b is not None and name not in skip:
                out[prefix + str(name)] = _tensor(b, prefix + str(name))
        stack.extend(
            (f"{prefix}{name}.", child)
            for name, child in reversed(list(children.items()))
            if child is not None
        )
    return out


def _tensor(value, key: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise WeightsError(f"'{key}' is a {type(value).__name__}, not a tensor")
    return value


@lru_cache(maxsize=64)
def _shapes(variant: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = build_model(variant, num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def match_variant(
    sd: dict[str, torch.Tensor], num_classes: int, segment: bool = False
) -> str | None:
    """The registered variant (a -seg one when segment) whose keys and shapes equal sd's."""
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    for variant in SEG_SCALES if segment else SCALES:
        if _shapes(variant, num_classes) == shapes:
            return variant
    return None


def _head_classes(sd: dict[str, torch.Tensor]) -> int:
    anchor_keys = [k for k in sd if k.endswith(".anchors")]
    if not anchor_keys:
        raise WeightsError("no Detect anchors in the checkpoint")
    head = anchor_keys[0].rsplit(".", 1)[0]
    anchors, conv = sd[anchor_keys[0]], sd.get(f"{head}.m.0.weight")
    if anchors.ndim != 3 or conv is None or conv.ndim != 4 or anchors.shape[1] < 1:
        raise WeightsError("its Detect head has no usable anchors and output convolution")
    proto = sd.get(f"{head}.proto.cv3.conv.weight")
    num_masks = 0 if proto is None else proto.shape[0]  # Segment: coefficients follow classes
    return conv.shape[0] // anchors.shape[1] - 5 - num_masks


def read_official(obj: Any, path: Path) -> LoadedWeights | None:
    """LoadedWeights for an official YOLOv5 checkpoint, None if obj is something else."""
    if not isinstance(obj, dict):
        return None
    model = obj.get("ema") or obj.get("model")
    if not isinstance(model, Placeholder) or not model.class_path.startswith("models."):
        return None
    if model.class_path in _READ_ELSEWHERE:
        return None
    if model.class_path not in _DETECTION | _SEGMENTATION:
        raise WeightsError(f"'{path}' holds '{model.class_path}', not a YOLOv5 detection model")
    segment = model.class_path in _SEGMENTATION
    try:
        sd = float_state_dict(flatten_placeholder(model))
    except WeightsError as e:
        raise WeightsError(f"'{path}' is not a usable YOLOv5 checkpoint: {e}") from None
    if "model.0.conv.conv.weight" in sd:
        raise WeightsError(
            f"'{path}' is a YOLOv5 checkpoint from before v6.0 (Focus stem); only v6.0+ files "
            "(v6.x, v7.0) are supported"
        )
    try:
        nc = check_num_classes(_head_classes(sd), path)
    except WeightsError as e:
        raise WeightsError(f"'{path}' is not a usable YOLOv5 checkpoint: {e}") from None
    variant = match_variant(sd, nc, segment)
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
