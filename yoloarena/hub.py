"""The torch.hub-style call: ``model(ims, size=640, augment=False)`` -> `Detections`.

As YOLOv5's AutoShape: ``ims`` is one item or a list of file paths, http(s) URLs, PIL images and
numpy arrays (HWC, **RGB** as in YOLOv5; ``bgr=True`` for OpenCV arrays; CHW arrays are
transposed; gray and alpha are handled). All images of a call go in one batch letterboxed to one
shared shape (each image scaled by ``size / max(h, w)``, the largest scaled sides rounded up to a
stride multiple), which is why a batch can differ slightly from per-image ``predict``. Stretch
families (DAMO-YOLO) and fixed-shape exported files use their own input shape. The NMS settings
are attributes of the model (``model.conf``, ``iou``, ``agnostic``, ``multi_label``,
``classes``, ``max_det``, ``amp``), or keyword arguments of one call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data.images import read_image, to_bgr
from .data.sources import is_pil
from .data.urls import is_url, read_url_image, url_file_name
from .detections import Detections
from .errors import YoloArenaError
from .models.base import Detector, as_module

SETTINGS = ("conf", "iou", "agnostic", "multi_label", "classes", "max_det", "amp")


def default_settings(model: Any) -> dict[str, Any]:
    """The call settings of a model: its family's predict defaults (YOLOv5: AutoShape's)."""
    d = getattr(model, "predict_defaults", None)
    return {"conf": getattr(d, "conf", 0.25), "iou": getattr(d, "iou", 0.45),
            "agnostic": False, "multi_label": False, "classes": None,
            "max_det": getattr(d, "max_det", 1000), "amp": False}  # fmt: skip


def load_images(ims: Any, bgr: bool = False) -> tuple[list[np.ndarray], list[str], list]:
    """(BGR arrays, file names as YOLOv5 gives them, source paths or None) of the call's items."""
    items = list(ims) if isinstance(ims, list | tuple) else [ims]
    if not items:
        raise YoloArenaError("no images given (an empty list)")
    arrays, files, paths = [], [], []
    for i, item in enumerate(items):
        name, path = f"image{i}", None
        if isinstance(item, str | Path) and is_url(str(item)):
            path = str(item).strip()
            img, name = read_url_image(path), url_file_name(path, name)
        elif isinstance(item, str | Path):
            path = str(item)
            if Path(path).expanduser().is_dir():
                raise YoloArenaError(
                    f"'{path}' is a folder; use model.predict(source) for folders, globs, videos"
                )
            img, name = read_image(Path(path).expanduser()), Path(path).name
        elif is_pil(item):
            from PIL import ImageOps

            upright = ImageOps.exif_transpose(item) or item
            img = to_bgr(np.asarray(upright.convert("RGB")), rgb=True)
            name = Path(getattr(item, "filename", "") or name).name
        elif isinstance(item, np.ndarray):
            img = _array_to_bgr(item, bgr, i)
        else:
            raise YoloArenaError(
                f"image {i}: {type(item).__name__} is not supported; give a path, an http(s) URL, "
                "a PIL image or a numpy array (a torch tensor alone runs the raw forward pass)"
            )
        arrays.append(img)
        files.append(str(Path(name).with_suffix(".jpg").name) if Path(name).stem else f"{name}.jpg")
        paths.append(path)
    return arrays, files, paths


def _array_to_bgr(a: np.ndarray, bgr: bool, i: int) -> np.ndarray:
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # CHW, as a data loader gives it
    if a.ndim == 3 and a.shape[2] > 4:
        a = a[:, :, :3]
    if a.ndim not in (2, 3) or min(a.shape[:2]) < 1:
        raise YoloArenaError(f"image {i}: array of shape {a.shape} is not an image (HWC or HW)")
    return to_bgr(a, rgb=not bgr)


def shared_shape(shapes_hw: Sequence[tuple[int, int]], size: int, stride: int) -> tuple[int, int]:
    """AutoShape's batch shape: sides scaled by size / max(h, w) (truncated), the largest of
    each rounded up to a multiple of stride."""
    scaled = [[int(side * size / max(h, w)) for side in (h, w)] for h, w in shapes_hw]
    hmax, wmax = np.array(scaled).max(0).tolist()
    return math.ceil(hmax / stride) * stride, math.ceil(wmax / stride) * stride


def detect_images(
    model: Any,
    ims: Any,
    size: int | Sequence[int] = 640,
    augment: bool = False,
    profile: bool = False,
    *,
    bgr: bool = False,
    backend: str | None = None,
    **overrides: Any,
) -> Detections:
    """Detections of ims in one batch (see the module docstring); model is an ArenaModel or a
    Detector. overrides: any of SETTINGS for this call only. backend: torch, onnx, openvino or
    auto (see yoloarena.engine.backends). profile is accepted (YOLOv5's signature) and
    ignored."""
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise YoloArenaError(
            f"unknown argument(s) {', '.join(sorted(unknown))}; the call takes size, augment, bgr, "
            f"backend and {', '.join(SETTINGS)}"
        )
    from . import threads
    from .engine.backends import resolve_backend

    net = as_module(model)
    if not isinstance(net, Detector):
        raise YoloArenaError(f"model(images) needs a detector, not a {net.task or 'plain'} model")
    settings = {k: overrides.get(k, getattr(model, k, None)) for k in SETTINGS}
    amp = bool(settings.pop("amp"))
    side = max(size) if isinstance(size, Sequence) else int(size)
    net = resolve_backend(net, backend, side, half=amp, augment=augment)
    with threads.scope():
        return _detect(net, ims, side, augment, bgr, amp, settings)


def _detect(net, ims, side, augment, bgr, amp, settings) -> Detections:
    t0 = time.perf_counter()
    arrays, files, paths = load_images(ims, bgr)
    tr, stride = net.transform, max(net.stride)
    shapes = [a.shape[:2] for a in arrays]
    shape = shared_shape(shapes, side, stride) if tr.resize == "letterbox" and tr.rect else None
    if shape is None:
        shape = tr.input_shape(shapes, side)
    load_ms = (time.perf_counter() - t0) * 1e3 / len(arrays)
    results = net.predict(arrays, imgsz=side, shape=shape, augment=augment, half=amp, **settings)
    for r, path in zip(results, paths, strict=True):
        r.path = path
    speed = results[0].speed
    times = (speed["preprocess"] + load_ms, speed["inference"], speed["postprocess"])
    return Detections(results, files, (len(arrays), 3, *shape), times, net.names)
