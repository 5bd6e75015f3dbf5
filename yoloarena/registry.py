"""Model registry: builder functions registered by name.

@register_model("yolov5s", family="yolov5")
def yolov5s(num_classes: int = 80) -> Detector: ...

build_model("yolov5s", num_classes=3)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import unknown

if TYPE_CHECKING:
    from .models.base import Detector


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name."""

    name: str
    builder: Callable[..., Detector]
    family: str
    imgsz: int = 640
    published: dict[str, Any] = field(default_factory=dict)
    task: str = "detect"  # "detect", "segment" or "classify"
    listed: bool = True  # False: buildable by name (checkpoints) but not in list_models()


_REGISTRY: dict[str, ModelEntry] = {}
# packages under yoloarena.models that register models on import
_FAMILIES = ("yolov5", "damoyolo", "torchvision")


def register_model(
    name: str,
    *,
    family: str,
    imgsz: int = 640,
    published: dict[str, Any] | None = None,
    listed: bool = True,
    task: str = "detect",
) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Decorator that registers a builder function under name (listed=False: a builder that needs
    arguments, e.g. a searched structure, kept out of list_models and the zoo)."""

    def decorator(fn: Callable[..., Detector]) -> Callable[..., Detector]:
        if name in _REGISTRY and _REGISTRY[name].builder is not fn:
            raise ValueError(f"model name '{name}' is registered twice")
        entry = ModelEntry(name, fn, family, imgsz, dict(published or {}), task, listed)
        _REGISTRY[name] = entry
        return fn

    return decorator


def _load_families() -> None:
    for family in _FAMILIES:
        importlib.import_module(f"yoloarena.models.{family}")


def families() -> tuple[str, ...]:
    """The model families (each registered its models, presets and hyperparameter section)."""
    _load_families()
    return _FAMILIES


def list_models(family: str | None = None, task: str | None = None) -> list[str]:
    """Registered model names, optionally of one family and/or one task (detect, segment,
    classify), in registration order."""
    _load_families()
    return [
        n
        for n, e in _REGISTRY.items()
        if e.listed and (family is None or e.family == family) and (task is None or e.task == task)
    ]


def get_entry(name: str) -> ModelEntry:
    """The registry entry for name; unknown names raise with close matches."""
    _load_families()
    if name not in _REGISTRY:
        raise unknown("model", name, list_models(), hint="run `yoloarena info` to list models")
    return _REGISTRY[name]


def is_registered(name: str) -> bool:
    _load_families()
    return name in _REGISTRY


def build_model(name: str, **kwargs: Any) -> Detector:
    """Build a registered model with random weights (kwargs go to its builder)."""
    entry = get_entry(name)
    model = entry.builder(**kwargs)
    model.model_name = name
    return model
