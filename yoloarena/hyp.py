"""Training hyperparameters (one typed dataclass for every family) and named family presets.

A family registers its recipes (`register_hyp("yolov5", "scratch-low", Hyp(...))`); the trainer
takes the family's default preset unless `hyp=` names another one or a yaml file, and single
values can be overridden on the command line (`lr0=0.02 mosaic=0.5`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .config import load_config
from .errors import unknown


@dataclass
class Hyp:
    # optimiser and schedule
    optimizer: Literal["SGD", "AdamW", "Adam"] = "SGD"
    lr0: float = 0.01
    lr_per_image: float = 0.0  # > 0: lr0 = lr_per_image x total batch (DAMO-YOLO's rule)
    lrf: float = 0.01  # final learning rate = lr0 * lrf
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 0.0005  # applied to weights only, scaled by batch * accumulate / nbs
    schedule: Literal["linear", "cosine", "cosine_flat"] = "linear"
    no_aug_epochs: int = 0  # last N epochs: no mosaic, mixup or affine (cosine_flat: flat lr)
    warmup_epochs: float = 3.0
    warmup: Literal["linear", "quadratic"] = "linear"
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    nbs: int = 64  # nominal batch: gradients are accumulated up to it (0: no accumulation)
    grad_clip: float = 10.0  # max gradient norm (0: off)
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0  # EMA decay ramps up as 1 - exp(-updates / tau)
    # loss gains (YOLOv5)
    box: float = 0.05
    cls: float = 0.5
    cls_pw: float = 1.0
    obj: float = 1.0
    obj_pw: float = 1.0
    iou_t: float = 0.2  # unused by the YOLOv5 loss, kept for the official hyp files
    anchor_t: float = 4.0
    fl_gamma: float = 0.0
    label_smoothing: float = 0.0
    # augmentation
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5  # scale gain U(1 - scale, 1 + scale) ...
    scale_range: list[float] | None = None  # ... or U(min, max) when given (DAMO: 0.1,2.0)
    shear: float = 0.0
    perspective: float = 0.0
    flipud: float = 0.0
    fliplr: float = 0.5
    mosaic: float = 1.0
    mixup: float = 0.0
    mixup_style: Literal["yolov5", "damo"] = "yolov5"  # two mosaics, Beta(32, 32) / one image
    mosaic_size: int = 0  # mosaic canvas side before the final resize (0: imgsz; DAMO Nano 640)
    box_aspect_max: float = 100.0  # boxes more elongated than this are dropped after a warp
    min_box_area: float = 0.0  # boxes of at most this many px^2 are dropped (DAMO-YOLO: 4)
    close_mosaic: int = 0  # epochs at the end without mosaic and mixup

    def replace(self, **changes) -> Hyp:
        return dataclasses.replace(self, **changes)


_PRESETS: dict[str, dict[str, Hyp]] = {}
_DEFAULT: dict[str, str] = {}
_SHORT: dict[str, dict] = {}
SHORT = "short"  # hyp=short: the model's own preset, adapted to a few epochs on a small dataset


def register_short(family: str, overrides: dict) -> None:
    """The changes that turn a family's presets into its `short` variant (tiny data, few
    epochs: the built-in compare demo)."""
    _SHORT[family] = dict(overrides)


def model_hyp(family: str, name: str | None, model_default: str | None) -> Hyp:
    """The Hyp a model trains with: the named preset or yaml, `short`, or the model's default."""
    if name == SHORT:
        if family not in _SHORT:
            raise unknown(f"hyp preset for {family}", name, _PRESETS.get(family, {}))
        return get_hyp(family, model_default).replace(**_SHORT[family])
    return get_hyp(family, name or model_default)


def register_hyp(family: str, name: str, hyp: Hyp, default: bool = False) -> None:
    _PRESETS.setdefault(family, {})[name] = hyp
    if default or family not in _DEFAULT:
        _DEFAULT[family] = name


def hyp_names(family: str) -> list[str]:
    return list(_PRESETS.get(family, {})) + ([SHORT] if family in _SHORT else [])


def get_hyp(family: str, name: str | None = None) -> Hyp:
    """A family's preset by name (default preset when None), or a yaml file of Hyp keys."""
    if name and Path(name).suffix in (".yaml", ".yml"):
        return load_config(Hyp, yaml_file=name)
    presets = _PRESETS.get(family, {})
    name = name or _DEFAULT.get(family, "")
    if name not in presets:
        raise unknown(f"hyp preset for {family}", name, presets, hint="or give a .yaml file")
    return dataclasses.replace(presets[name])


HYP_FIELDS = frozenset(f.name for f in dataclasses.fields(Hyp))
