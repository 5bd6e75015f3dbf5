"""Resize-and-pad (letterbox) and stretch resize, with the exact inverse for boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..structures import LetterboxInfo
from .boxes import clip_boxes


def _as_hw(shape: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(shape, int):
        return shape, shape
    h, w = shape
    return int(h), int(w)


def letterbox(
    img: np.ndarray,
    new_shape: int | Sequence[int] = 640,
    *,
    stride: int = 32,
    auto: bool = False,
    scaleup: bool = True,
    stretch: bool = False,
    color: int = 114,
    center: bool = True,
    interpolation: int = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize img (HWC) into new_shape (h, w) keeping its aspect ratio, then pad.

    auto: pad only up to the next multiple of stride (minimum rectangle). stretch: resize to
    new_shape exactly, without keeping the aspect ratio and without padding (DAMO-YOLO's rule).
    Odd padding puts the extra pixel at the bottom/right, as YOLOv5 does.
    """
    h0, w0 = img.shape[:2]
    new_h, new_w = _as_hw(new_shape)
    if stretch:
        out = img
        if (h0, w0) != (new_h, new_w):
            out = cv2.resize(img, (new_w, new_h), interpolation=interpolation)
        return out, LetterboxInfo((new_w / w0, new_h / h0), (0.0, 0.0), (new_h, new_w))
    r = min(new_h / h0, new_w / w0)
    if not scaleup:
        r = min(r, 1.0)
    unpad_w, unpad_h = round(w0 * r), round(h0 * r)
    dw, dh = new_w - unpad_w, new_h - unpad_h
    if auto:
        dw, dh = dw % stride, dh % stride
    if center:
        top, bottom = round(dh / 2 - 0.1), round(dh / 2 + 0.1)
        left, right = round(dw / 2 - 0.1), round(dw / 2 + 0.1)
    else:
        top, left, bottom, right = 0, 0, dh, dw
    out = img
    if (h0, w0) != (unpad_h, unpad_w):
        out = cv2.resize(img, (unpad_w, unpad_h), interpolation=interpolation)
    if top or bottom or left or right:
        fill = (color,) * (img.shape[2] if img.ndim == 3 else 1)
        out = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill)
    return out, LetterboxInfo((r, r), (float(left), float(top)), out.shape[:2])


def batch_shape(
    shapes: Sequence[tuple[int, int]], imgsz: int, stride: int = 32, scaleup: bool = True
) -> tuple[int, int]:
    """Smallest (h, w), a multiple of stride, that holds every image letterboxed to imgsz."""
    hs, ws = [], []
    for h, w in shapes:
        r = imgsz / max(h, w)
        if not scaleup:
            r = min(r, 1.0)
        hs.append(round(h * r))
        ws.append(round(w * r))
    return (math.ceil(max(hs) / stride) * stride, math.ceil(max(ws) / stride) * stride)


def letterbox_boxes(boxes: torch.Tensor | np.ndarray, info: LetterboxInfo):
    """Map xyxy boxes from the original image into the letterboxed image."""
    out = boxes * 1.0  # a float copy of either kind
    (sx, sy), (px, py) = info.scale_xy, info.pad_xy
    out[..., 0::2] = out[..., 0::2] * sx + px
    out[..., 1::2] = out[..., 1::2] * sy + py
    return out


def unletterbox(
    boxes: torch.Tensor | np.ndarray,
    info: LetterboxInfo,
    orig_shape: tuple[int, int] | None = None,
):
    """Map xyxy boxes from the letterboxed image back to the original; clip if orig_shape given."""
    out = boxes * 1.0
    (sx, sy), (px, py) = info.scale_xy, info.pad_xy
    out[..., 0::2] = (out[..., 0::2] - px) / sx
    out[..., 1::2] = (out[..., 1::2] - py) / sy
    return clip_boxes(out, orig_shape) if orig_shape is not None else out
