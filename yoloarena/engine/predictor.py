"""Prediction on sources for any Detector: files, folders, globs, videos, arrays -> Results.

Reading sources, batching and streaming live here. A background thread decodes and resizes the
next batches (the model's ``transform.prepare``) while the model runs the current one
(``Detector.predict_batch``: normalize, forward, postprocess, map back). ``backend=`` chooses
what runs the network (see yoloarena.engine.backends).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from .. import threads
from ..allocator import keep_freed_memory
from ..data.prefetch import prefetch
from ..data.sources import Frame, iter_frames
from ..models.base import Detector, as_module
from ..structures import Results
from .backends import follow_policy, resolve_backend

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
    backend: str | None = None,
) -> list[Results] | Iterator[Results]:
    """Run model on source (file, folder, glob, .txt list, http(s) URL, list, array, PIL image,
    video).

    Returns a list of Results, or a lazy generator of them with stream=True (use it for videos).
    Unset NMS settings take the family's predict defaults. augment=True: test-time augmentation.
    Files that cannot be read are skipped with a warning (and appended to errors if given).
    Segmentation models give Results with masks; retina_masks=True upsamples them before
    cropping to the box (see Detector.predict).
    backend: torch, onnx, openvino, or auto (the fastest of them for this model on this machine,
    exported once to a cache; see yoloarena.engine.backends); None: the model as given.
    """
    model = as_module(model)
    settings = {"conf": conf, "iou": iou, "max_det": max_det, "agnostic": agnostic,
                "classes": classes, "multi_label": multi_label, "augment": augment}  # fmt: skip
    if retina_masks:
        settings["retina_masks"] = True
    size = check_imgsz(imgsz or model.imgsz, max(model.stride))
    model = resolve_backend(model, backend, size, half=half, augment=augment)
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
    if model.device.type == "cpu":
        keep_freed_memory()  # batched CPU forwards reuse their activation memory
    with threads.scope():
        watch = threads.Watch()
        batches = prefetch(_batches(frames, batch), lambda c: _prepare(model, c, imgsz))
        for good, bad, prepared in batches:
            for error in bad:
                LOGGER.warning("skipping %s", error)
                if errors is not None:
                    errors.append(error)
            if not good:
                continue
            x, infos, pre_ms = prepared
            arrays = [f.image for f in good]
            results = model.predict_batch(arrays, x, infos, half, pre_ms=pre_ms, **settings)
            for f, r in zip(good, results, strict=True):
                r.path, r.frame = f.path, f.frame
                yield r
            watch.check()
            follow_policy(model, watch)


def _prepare(model: Detector, chunk: list[Frame], imgsz: int):
    """In the prefetch thread: (readable frames, errors, (uint8 batch, infos, ms) or None)."""
    good = [f for f in chunk if not f.error]
    bad = [f.error for f in chunk if f.error]
    if not good:
        return good, bad, None
    t0 = time.perf_counter()
    x, infos = model.transform.prepare([f.image for f in good], imgsz)
    return good, bad, (x, infos, (time.perf_counter() - t0) * 1e3)
