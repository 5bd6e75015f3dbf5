"""Prediction for any Detector: sources -> preprocess -> forward -> NMS -> Results."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import cv2
import numpy as np
import torch

from ..data.sources import Frame, iter_frames
from ..models.base import Detector, Preprocess
from ..ops.letterbox import batch_shape, letterbox, unletterbox
from ..structures import LetterboxInfo, Results

LOGGER = logging.getLogger("yoloarena")


def check_imgsz(imgsz: int, stride: int) -> int:
    """imgsz rounded up to a multiple of stride (with a warning when it changes)."""
    fixed = max(math.ceil(imgsz / stride) * stride, stride)
    if fixed != imgsz:
        LOGGER.warning(
            "imgsz=%d is not a multiple of the stride %d; using %d", imgsz, stride, fixed
        )
    return fixed


def preprocess(
    images: Sequence[np.ndarray], spec: Preprocess, imgsz: int, stride: int, device: torch.device
) -> tuple[torch.Tensor, list[LetterboxInfo]]:
    """BGR HWC uint8 images -> one NCHW float batch on device, plus how each was resized."""
    if spec.resize == "stretch":
        shape: tuple[int, int] = (imgsz, imgsz)
    elif spec.rect:
        shape = batch_shape([im.shape[:2] for im in images], imgsz, stride)
    else:
        shape = (imgsz, imgsz)
    stretch = spec.resize == "stretch"
    boxed = [
        letterbox(im, shape, stride=stride, stretch=stretch, color=spec.pad_value) for im in images
    ]
    pixels = [cv2.cvtColor(b[0], cv2.COLOR_BGR2RGB) if spec.rgb else b[0] for b in boxed]
    batch = pixels[0][None] if len(pixels) == 1 else np.stack(pixels)
    # NHWC memory seen as NCHW (channels-last strides): no transpose copy
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device).float()
    if spec.divisor != 1.0:
        x.div_(spec.divisor)
    return x, [b[1] for b in boxed]


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
    errors: list[str] | None = None,
) -> list[Results] | Iterator[Results]:
    """Run model on source; see Detector.predict. stream=True returns a lazy generator.

    Files that cannot be read are skipped with a warning (and appended to errors if given)."""
    defaults = model.predict_defaults
    settings = {
        "conf": defaults.conf if conf is None else conf,
        "iou": defaults.iou if iou is None else iou,
        "max_det": defaults.max_det if max_det is None else max_det,
        "agnostic": agnostic,
        "classes": classes,
        "multi_label": multi_label,
    }
    size = check_imgsz(imgsz or model.imgsz, max(model.stride))
    frames = iter_frames(source, rgb=rgb, vid_stride=vid_stride)
    gen = _run(model, frames, settings, size, max(batch, 1), half, errors)
    return gen if stream else list(gen)


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    while chunk := list(islice(frames, size)):
        yield chunk


@torch.inference_mode()
def _run(
    model: Detector,
    frames: Iterator[Frame],
    settings: dict[str, Any],
    imgsz: int,
    batch: int,
    half: bool,
    errors: list[str] | None = None,
) -> Iterator[Results]:
    device = model.device
    use_half = half and device.type == "cuda"
    if model.training:
        model.eval()
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
        t0 = time.perf_counter()
        x, infos = preprocess(
            [f.image for f in good], model.preprocess, imgsz, max(model.stride), device
        )
        t1 = time.perf_counter()
        with torch.autocast(device.type, enabled=use_half):
            out = model(x)
        _sync(device)
        t2 = time.perf_counter()
        dets = model.postprocess(out, **settings)
        t3 = time.perf_counter()
        n = len(good)
        speed = {"preprocess": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n,
                 "postprocess": (t3 - t2) * 1e3 / n}  # fmt: skip
        for f, info, (boxes, scores, labels) in zip(good, infos, dets, strict=True):
            shape = f.image.shape[:2]
            yield Results(unletterbox(boxes, info, shape), scores, labels, model.names, shape,
                          path=f.path, orig_img=f.image, speed=speed, frame=f.frame)  # fmt: skip


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
