"""`yoloarena.load`: a registered model name (random weights), a weights file or an exported file.

`load()` returns the facade users hold (`ArenaModel`: predict, val, train, export on the network);
`load_model()` returns the network itself, for the toolkit's own modules.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .devices import select_device
from .errors import WeightsError, YoloArenaError, unknown
from .models.base import Model
from .registry import build_model, get_entry, is_registered, list_models
from .weights import load_into, read_weights

if TYPE_CHECKING:
    from .api import ArenaModel

LOGGER = logging.getLogger("yoloarena")
__all__ = ["load", "load_model", "load_weights", "not_found_error", "select_device"]
_WEIGHT_SUFFIXES = (".pt", ".pth")
STRUCTURE_SUFFIXES = (".yaml", ".yml", ".json")  # a searched backbone (structure file)


def load(
    model: str | Path = "yolov5s",
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    precision: str | None = None,
    half: bool = False,
) -> ArenaModel:
    """The model, in eval mode, with predict/val/train/export (`ArenaModel`; `.model` is the
    network). Arguments: see load_model."""
    from .api import ArenaModel

    net = load_model(model, num_classes=num_classes, device=device, precision=precision, half=half)
    return ArenaModel(net, str(model))


def load_model(
    model: str | Path = "yolov5s",
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    precision: str | None = None,
    half: bool = False,
) -> Model:
    """The network (a Detector or a Classifier) in eval mode.

    model: a registered name ("yolov5n": random weights, with a warning), a weights file
    (official YOLOv5 .pt, DAMO-YOLO .pth, or a yoloarena checkpoint), a structure file written by
    `yoloarena search` (.yaml/.json: random weights, with a warning), or an exported file
    (.onnx, .torchscript, .engine, .tflite, .mlpackage, an OpenVINO folder), run by its own
    runtime. num_classes builds a registered model with another class count. precision (f32,
    bf16, f16) or half=True (the CPU's 16-bit float) choose OpenVINO's inference precision.
    Nothing is ever downloaded.
    """
    text = str(model)
    path = Path(text).expanduser()
    if path.exists() and _exported(path):
        from .export.runtime import backend_of, load_exported

        if half and not precision and backend_of(path) == "openvino":
            precision = "half"
        return load_exported(path, select_device(device), precision)
    if precision:
        raise YoloArenaError(
            f"precision={precision} applies to exported OpenVINO files; for '{text}' use half=True"
        )
    if path.is_file() and path.suffix.lower() in STRUCTURE_SUFFIXES:
        net = structure_model(path, num_classes)
        LOGGER.warning("%s built with random weights (a structure file has none); train it with "
                       "`yoloarena train model=%s data=...`", path, path)  # fmt: skip
    elif path.is_file():
        net = load_weights(path)
        if num_classes is not None and num_classes != net.num_classes:
            raise WeightsError(
                f"'{path}' has {net.num_classes} classes, not num_classes={num_classes}; "
                "fine-tune it with `yoloarena train` to change the class count"
            )
    elif is_registered(text):
        net = build_model(text, **({"num_classes": num_classes} if num_classes else {}))
        LOGGER.warning(
            "%s built with random weights (no weights file given); its %s are meaningless until "
            "you load or train weights",
            text,
            "classes" if net.task == "classify" else "detections",
        )
    else:
        raise not_found_error(text, path)
    return net.to(select_device(device)).eval()


def structure_model(
    path: str | Path, num_classes: int | None = None, names: dict | None = None
) -> Model:
    """A DAMO-YOLO detector on the backbone a structure file describes (`yoloarena search`
    writes one), with the neck and head of a released model; random weights."""
    kwargs = {"num_classes": num_classes} if num_classes else {}
    return build_model("damoyolo-nas", structure=str(path), names=names, **kwargs)


def _exported(path: Path) -> bool:
    from .export.runtime import backend_of

    return backend_of(path.parent if path.suffix == ".xml" else path) is not None


def not_found_error(text: str, path: Path) -> Exception:
    stem = path.stem
    looks_like_file = path.suffix in _WEIGHT_SUFFIXES or "/" in text or "\\" in text
    if looks_like_file:
        hint = ""
        if is_registered(stem):
            hint = (
                f"; yoloarena never downloads weights: get the official {stem} weights from the "
                f"family's release page and pass their path, or use model={stem} for random weights"
            )
        return WeightsError(f"weights file '{text}' not found{hint}")
    return unknown("model", text, list_models(), hint="give a registered name or a weights file")


def load_weights(path: str | Path) -> Model:
    """Build the model a weights file describes and load its weights (strict)."""
    loaded = read_weights(path)
    get_entry(loaded.model_name)  # an unknown name in a file gets the usual message
    net = build_model(
        loaded.model_name,
        num_classes=loaded.num_classes,
        names=loaded.names,
        **loaded.build_kwargs,
    )
    if loaded.info.get("deployed"):
        net.deploy()
    load_into(net, loaded.state_dict, str(path))
    net.weights_info = {"path": str(path), **loaded.info}
    return net
