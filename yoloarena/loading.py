"""`yoloarena.load`: a registered model name (random weights) or a weights file."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .errors import WeightsError, YoloArenaError, unknown
from .models.base import Detector
from .registry import build_model, get_entry, is_registered, list_models
from .weights import load_into, read_weights

LOGGER = logging.getLogger("yoloarena")
_WEIGHT_SUFFIXES = (".pt", ".pth")


def load(
    model: str | Path = "yolov5s",
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    precision: str | None = None,
    half: bool = False,
) -> Detector:
    """A Detector in eval mode.

    model: a registered name ("yolov5n": random weights, with a warning), a weights file
    (official YOLOv5 .pt, DAMO-YOLO .pth, or a yoloarena checkpoint), or an exported file
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
    if path.is_file():
        net = load_weights(path)
        if num_classes is not None and num_classes != net.num_classes:
            raise WeightsError(
                f"'{path}' has {net.num_classes} classes, not num_classes={num_classes}; "
                "fine-tune it with `yoloarena train` to change the class count"
            )
    elif is_registered(text):
        net = build_model(text, **({"num_classes": num_classes} if num_classes else {}))
        LOGGER.warning(
            "%s built with random weights (no weights file given); its detections are "
            "meaningless until you load or train weights",
            text,
        )
    else:
        raise not_found_error(text, path)
    return net.to(select_device(device)).eval()


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


def load_weights(path: str | Path) -> Detector:
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


def select_device(device: str | int | torch.device) -> torch.device:
    """'cpu', 'cuda', '0', 'cuda:1', 'mps' -> torch.device, with a clear error if unavailable."""
    if isinstance(device, torch.device):
        return device
    text = str(device).strip().lower() or "cpu"
    if text.isdigit():
        text = f"cuda:{text}"
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise YoloArenaError(f"device={device} asked for CUDA, but no CUDA device is available")
    if text == "mps" and not torch.backends.mps.is_available():
        raise YoloArenaError(f"device={device} asked for MPS, which this machine does not have")
    try:
        return torch.device(text)
    except RuntimeError:
        raise YoloArenaError(
            f"device={device} is not a device (use cpu, 0, cuda:0 or mps)"
        ) from None
