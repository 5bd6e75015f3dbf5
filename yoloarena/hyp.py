"""Training hyperparameters: the keys every family shares (`Hyp`), each family's own section, and
the family presets.

A family registers its section (a `Hyp` subclass with the keys only it reads, e.g. YOLOv5's loss
gains) and its named presets in `models/<family>/recipe.py`:

    @dataclass
    class YOLOv5Hyp(Hyp):
        box: float = param(0.05, "box loss gain", ge=0)
    register_section("yolov5", YOLOv5Hyp, title="YOLOv5")
    register_hyp("yolov5", "scratch-low", YOLOv5Hyp(...), default=True)

The train config collects every registered key at its top level (`lr0=0.02` on the command line,
`lr0: 0.02` in a cfg file); `family_hyp` starts from the model's preset (or `hyp=` a preset name
or yaml file) and applies them, refusing a key the model's family does not use.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .config import ConfigError, Key, build_config, param, read_yaml, show_value
from .errors import UnknownNameError, unknown

_PROB = {"ge": 0.0, "le": 1.0}


@dataclass
class Hyp:
    """The hyperparameters every family reads (optimiser, schedule, EMA, augmentation)."""

    # optimiser and schedule
    optimizer: Literal["SGD", "AdamW", "Adam"] = param("SGD", "optimiser: SGD, AdamW or Adam")
    lr0: float = param(0.01, "initial learning rate", ge=0)
    lr_per_image: float = param(
        0.0, "> 0: lr0 = lr_per_image x total batch (DAMO-YOLO's rule)", ge=0
    )
    lrf: float = param(0.01, "final learning rate = lr0 x lrf", ge=0)
    momentum: float = param(0.937, "SGD momentum / Adam beta1", ge=0, lt=1)
    weight_decay: float = param(
        0.0005, "weight decay on weights only, scaled by batch x accumulate / nbs", ge=0
    )
    schedule: Literal["linear", "cosine", "cosine_flat"] = param(
        "linear", "learning-rate schedule: linear, cosine, cosine_flat (flat for no_aug_epochs)"
    )
    no_aug_epochs: int = param(0, "last N epochs without mosaic, mixup or affine", ge=0)
    warmup_epochs: float = param(3.0, "warmup epochs (fractions allowed)", ge=0)
    warmup: Literal["linear", "quadratic"] = param("linear", "warmup shape: linear or quadratic")
    warmup_momentum: float = param(0.8, "momentum at the start of warmup", ge=0, lt=1)
    warmup_bias_lr: float = param(0.1, "bias learning rate at the start of warmup", ge=0)
    nbs: int = param(64, "nominal batch: gradients accumulate up to it (0: no accumulation)", ge=0)
    grad_clip: float = param(10.0, "max gradient norm (0: no clipping)", ge=0)
    ema_decay: float = param(0.9999, "EMA decay of the weights", ge=0, le=1)
    ema_tau: float = param(2000.0, "EMA decay ramps up as 1 - exp(-updates / tau)", gt=0)
    # augmentation
    hsv_h: float = param(0.015, "hue jitter (fraction)", **_PROB)
    hsv_s: float = param(0.7, "saturation jitter (fraction)", **_PROB)
    hsv_v: float = param(0.4, "value jitter (fraction)", **_PROB)
    degrees: float = param(0.0, "rotation (+/- degrees)", ge=0)
    translate: float = param(0.1, "translation (+/- fraction)", **_PROB)
    scale: float = param(0.5, "scale gain U(1 - scale, 1 + scale)", ge=0)
    scale_range: list[float] | None = param(
        None, "scale gain U(min, max) instead of scale, e.g. 0.1,2.0 (DAMO-YOLO)", ge=0
    )
    shear: float = param(0.0, "shear (+/- degrees)", ge=0)
    perspective: float = param(0.0, "perspective (+/- fraction)", ge=0, le=0.001)
    flipud: float = param(0.0, "probability of an up-down flip", **_PROB)
    fliplr: float = param(0.5, "probability of a left-right flip", **_PROB)
    mosaic: float = param(1.0, "probability of a 4-image mosaic", **_PROB)
    mixup: float = param(0.0, "probability of mixup", **_PROB)
    mixup_style: Literal["yolov5", "damo"] = param(
        "yolov5", "mixup: yolov5 (two mosaics, Beta(32, 32)) or damo (one image)"
    )
    mosaic_size: int = param(0, "mosaic canvas side before the final resize (0: imgsz)", ge=0)
    box_aspect_max: float = param(
        100.0, "boxes more elongated than this dropped after a warp", gt=0
    )
    min_box_area: float = param(0.0, "boxes of at most this many px^2 dropped", ge=0)
    close_mosaic: int = param(0, "last N epochs without mosaic and mixup", ge=0)

    def replace(self, **changes) -> Hyp:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Section:
    family: str
    cls: type[Hyp]
    title: str  # the family as users know it (YOLOv5, DAMO-YOLO)


_SECTIONS: dict[str, Section] = {}
_PRESETS: dict[str, dict[str, Hyp]] = {}
_DEFAULT: dict[str, str] = {}
_SHORT: dict[str, dict] = {}
SHORT = "short"  # hyp=short: the model's own preset, adapted to a few epochs on a small dataset


def register_section(family: str, cls: type[Hyp], title: str) -> None:
    """The family's hyperparameter section: Hyp or a subclass adding the keys only it reads."""
    if not (isinstance(cls, type) and issubclass(cls, Hyp)):
        raise TypeError(f"the section of {family} must be Hyp or a subclass of it")
    _SECTIONS[family] = Section(family, cls, title)


def _families() -> tuple[str, ...]:
    """Every family, imported (so that its section and presets are registered)."""
    from .registry import families

    return families()


def section(family: str) -> Section:
    """The family's section (plain Hyp for a family that registered none)."""
    _families()
    return _SECTIONS.get(family) or Section(family, Hyp, family)


def _sections() -> list[Section]:
    return [section(f) for f in _families()]


def hyp_keys() -> dict[str, Key]:
    """Every hyperparameter key of every family (the train config's inline group); the default
    shown in `yoloarena train help` is each family's default preset ('value | value' in family
    order, '-' where a family does not use the key)."""
    sections = _sections()
    keys: dict[str, tuple[Any, Any]] = {}
    for sec in sections:
        types = typing.get_type_hints(sec.cls)
        for f in dataclasses.fields(sec.cls):
            keys.setdefault(f.name, (types[f.name], f.metadata))
    columns = {name: [_default(sec, name) for sec in sections] for name in keys}
    width = max((len(c[0]) for c in columns.values()), default=0)
    return {
        name: Key(name, tp, _joined(columns[name], width), meta)
        for name, (tp, meta) in keys.items()
    }


def _default(sec: Section, name: str) -> str:
    if name not in {f.name for f in dataclasses.fields(sec.cls)}:
        return "-"
    preset = _PRESETS.get(sec.family, {}).get(_DEFAULT.get(sec.family, ""))
    return show_value(getattr(preset if preset is not None else sec.cls(), name))


def _joined(values: list[str], width: int) -> str:
    if len(set(values)) == 1:
        return values[0]
    return " | ".join([f"{values[0]:<{width}}", *values[1:]])


def _names(sec: Section) -> set[str]:
    return {f.name for f in dataclasses.fields(sec.cls)}


def foreign_keys(family: str, keys) -> None:
    """ConfigError for the first of keys that the family's section does not have, naming the key,
    the family and the families that do use it."""
    sec = section(family)
    own = _names(sec)
    for key in keys:
        if key in own:
            continue
        users = [s.title for s in _sections() if key in _names(s)]
        if not users:
            raise unknown(f"{sec.title} hyperparameter", key, own)
        raise ConfigError(
            f"{key}= does not apply to {sec.title} ({family}): only {' and '.join(users)} uses "
            f"it; remove it, or train a {users[0]} model"
        )


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
    if name and Path(name).suffix in (".yaml", ".yml"):
        return hyp_file(family, name, get_hyp(family, model_default))
    return get_hyp(family, name or model_default)


def family_hyp(family: str, name: str | None, model_default: str | None, overrides: dict) -> Hyp:
    """model_hyp with single keys set on top (coerced and checked; a key the family does not
    use is an error naming it)."""
    foreign_keys(family, overrides)
    hyp = model_hyp(family, name, model_default)
    return build_config(type(hyp), {**_plain(hyp), **overrides})


def hyp_file(family: str, path: str | Path, base: Hyp | None = None) -> Hyp:
    """A hyp .yaml file: its keys on top of base (the family's default preset when None)."""
    data = read_yaml(path, "hyp file")
    base = base if base is not None else get_hyp(family)
    try:
        foreign_keys(family, data)
        return build_config(type(base), {**_plain(base), **data})
    except (ConfigError, UnknownNameError) as e:
        raise type(e)(f"hyp file '{path}': {e}") from None


def _plain(hyp: Hyp) -> dict[str, Any]:
    return {f.name: getattr(hyp, f.name) for f in dataclasses.fields(hyp)}


def register_hyp(family: str, name: str, hyp: Hyp, default: bool = False) -> None:
    _PRESETS.setdefault(family, {})[name] = hyp
    if default or family not in _DEFAULT:
        _DEFAULT[family] = name


def hyp_names(family: str) -> list[str]:
    _families()
    return list(_PRESETS.get(family, {})) + ([SHORT] if family in _SHORT else [])


def get_hyp(family: str, name: str | None = None) -> Hyp:
    """A family's preset by name (default preset when None), or a yaml file of its keys."""
    if name and Path(name).suffix in (".yaml", ".yml"):
        return hyp_file(family, name)
    _families()
    presets = _PRESETS.get(family, {})
    name = name or _DEFAULT.get(family, "")
    if name not in presets:
        raise unknown(f"hyp preset for {family}", name, presets, hint="or give a .yaml file")
    return dataclasses.replace(presets[name])
