"""Reading official DAMO-YOLO `.pth` files: plain dicts whose `model` entry is the state_dict.

The variant is the registered model whose key shapes match; a file that matches none gets an
error listing the missing, unexpected and mis-shaped keys against the closest variant.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsError
from ...weights import (
    LoadedWeights,
    check_num_classes,
    float_state_dict,
    register_checkpoint_reader,
)
from .model import DamoYolo
from .variants import VARIANTS

_HEAD_KEY = "head.gfl_cls.0.weight"


@lru_cache(maxsize=32)
def _shapes(name: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = DamoYolo(VARIANTS[name], num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _mismatch(sd: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]]) -> dict[str, list]:
    return {
        "missing": [k for k in expected if k not in sd],
        "unexpected": [k for k in sd if k not in expected],
        "mis-shaped": [
            f"{k} {tuple(sd[k].shape)} != {s}"
            for k, s in expected.items()
            if k in sd and tuple(sd[k].shape) != s
        ],
    }


def official_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """The state_dict inside an official file (`ckpt['model']`, or the dict itself)."""
    if not isinstance(obj, dict):
        return None
    sd = obj.get("model", obj)
    if not isinstance(sd, dict) or not any(str(k).endswith(_HEAD_KEY) for k in sd):
        return None
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        return None
    return {k.removeprefix("module."): v for k, v in sd.items()}


def read_official(obj: Any, path: Path) -> LoadedWeights | None:
    sd = official_state_dict(obj)
    if sd is None or _HEAD_KEY not in sd:
        return None
    if sd[_HEAD_KEY].ndim != 4:
        raise WeightsError(f"'{path}': {_HEAD_KEY} is not a convolution weight")
    nc = check_num_classes(int(sd[_HEAD_KEY].shape[0]), path)
    if nc == 81:
        raise WeightsError(
            f"'{path}' looks like a legacy DAMO-YOLO v0.1/v0.2 checkpoint (81 class channels, "
            "keep-ratio resizing); only the v0.3 releases (clean_model_0317, Nano) are supported"
        )
    scores = {name: _mismatch(sd, _shapes(name, nc)) for name in VARIANTS}
    for name, diff in scores.items():
        if not any(diff.values()):
            info = {k: obj[k] for k in ("epoch",) if isinstance(obj, dict) and k in obj}
            info["source"] = "official DAMO-YOLO checkpoint"
            return LoadedWeights(name, float_state_dict(sd), nc, None, info=info)
    best = min(scores, key=lambda n: sum(len(v) for v in scores[n].values()))
    parts = [
        f"{kind} {len(keys)}: {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
        for kind, keys in scores[best].items()
        if keys
    ]
    raise WeightsError(
        f"'{path}' is a DAMO-YOLO state_dict that fits no released variant; closest is {best}: "
        + "; ".join(parts)
    )


register_checkpoint_reader(read_official)
