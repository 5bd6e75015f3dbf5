"""Prediction on sources for any Detector: files, folders, globs, videos, arrays -> Results.

Reading sources, batching and streaming live here; the per-batch work (the model's own transform,
forward, postprocess, map back) is the module's `Detector.predict`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from ..data.sources import Frame, iter_frames
from ..models.base import Detector, as_module
from ..structures import Results

LOGGER = logging.getLogger("yoloarena")


def check_imgsz(imgsz: int, stride: int) -> int:
    """imgsz rounded up to a multiple of stride (with a warning when it changes)."""
    fixed = max(math.ceil(imgsz / stride) * stride, stride)
    if fixed != imgsz:
        LOGGER.warning(
            "imgsz=%d is not a multiple of the stride %d; using %d", imgsz, stride, fixed
        )
    return fixed


def predict(
    model: Detector,
    source: Any,
    *,
    conf: float | None = None,
    iou: float | None = None,
    imgsz: int | None = None,
    max_det: int | None = None,
    agnostic: bool = False,
    classes: Sequence[int] | None = None,
    multi_label: bool = False,
    batch: int = 1,
    rgb: bool = False,
    half: bool = False,
    vid_stride: int = 1,
    stream: bool = False,
    augment: bool = False,
    errors: list[str] | None = None,
    retina_masks: bool = False,
) -> list[Results] | Iterator[Results]:
    """Run model on source (file, folder, glob, .txt list, http(s) URL, list, array, PIL image,
    video).

    Returns a list of Results, or a lazy generator of them with stream=True (use it for videos).
    Unset NMS settings take the family's predict defaults. augment=True: test-time augmentation.
    Files that cannot be read are skipped with a warning (and appended to errors if given).
    Segmentation models give Results with masks; retina_masks=True upsamples them before
    cropping to the box (see Detector.predict).
    """
    model = as_module(model)
    settings = {"conf": conf, "iou": iou, "max_det": max_det, "agnostic": agnostic,
                "classes": classes, "multi_label": multi_label, "augment": augment}  # fmt: skip
    if retina_masks:
        settings["retina_masks"] = True
    size = check_imgsz(imgsz or model.imgsz, max(model.stride))
    frames = iter_frames(source, rgb=rgb, vid_stride=vid_stride)
    gen = _run(model, frames, settings, size, max(batch, 1), half, errors)
    return gen if stream else list(gen)


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    while chunk := list(islice(frames, size)):
        yield chunk


def _run(
    model: Detector,
    frames: Iterator[Frame],
    settings: dict[str, Any],
    imgsz: int,
    batch: int,
    half: bool,
    errors: list[str] | None = None,
) -> Iterator[Results]:
    for chunk in _batches(frames, batch):
        good = []
        for f in chunk:
            if f.error:
                LOGGER.warning("skipping %s", f.error)
                if errors is not None:
                    errors.append(f.error)
            else:
                good.append(f)
        if not good:
            continue
        results = model.predict([f.image for f in good], imgsz=imgsz, half=half, **settings)
        for f, r in zip(good, results, strict=True):
            r.path, r.frame = f.path, f.frame
            yield r
