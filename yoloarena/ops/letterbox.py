"""Resize-and-pad (letterbox) and stretch resize, with the exact inverse for boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .boxes import clip_boxes


@dataclass(frozen=True)
class LetterboxInfo:
    """How an image was resized and padded: x' = x * scale + pad, per axis."""

    scale_xy: tuple[float, float]
    pad_xy: tuple[float, float]
    shape: tuple[int, int]  # (h, w) of the resized and padded image


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


def resize_long_side(img: np.ndarray, size: int, upscale_linear: bool = True) -> np.ndarray:
    """Resize so that the long side is size (the YOLOv5 loader's first step).

    Sides are truncated to integers; shrinking uses INTER_AREA, growing INTER_LINEAR.
    """
    h0, w0 = img.shape[:2]
    r = size / max(h0, w0)
    if r == 1:
        return img
    interp = cv2.INTER_LINEAR if (r > 1 and upscale_linear) else cv2.INTER_AREA
    return cv2.resize(img, (int(w0 * r), int(h0 * r)), interpolation=interp)


def eval_letterbox(
    img: np.ndarray, imgsz: int, shape: tuple[int, int], color: int = 114
) -> tuple[np.ndarray, LetterboxInfo]:
    """YOLOv5 val preprocessing: long side to imgsz, then letterbox into the batch shape."""
    h0, w0 = img.shape[:2]
    resized = resize_long_side(img, imgsz)
    h1, w1 = resized.shape[:2]
    out, info = letterbox(resized, shape, scaleup=False, color=color)
    (rx, ry), pad = info.scale_xy, info.pad_xy
    return out, LetterboxInfo((w1 / w0 * rx, h1 / h0 * ry), pad, info.shape)


def rect_batches(
    shapes_hw: np.ndarray, batch: int, imgsz: int, stride: int, pad: float = 0.5
) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Images sorted by aspect ratio, in batches, each with its letterbox shape (h, w).

    The shape of a batch is the smallest stride multiple that holds its images at imgsz, plus
    pad strides (0.5 in YOLOv5 val), as the official rectangular validation does.
    """
    shapes_hw = np.asarray(shapes_hw, dtype=np.float64).reshape(-1, 2)
    ratio = shapes_hw[:, 0] / shapes_hw[:, 1]  # h / w
    # numpy's default sort, as the official loader: among images of equal aspect ratio it decides
    # which batch (and so which letterbox shape) each one gets
    order = np.argsort(ratio)
    out = []
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        lo, hi = ratio[idx].min(), ratio[idx].max()
        rel = (hi, 1.0) if hi < 1 else (1.0, 1 / lo) if lo > 1 else (1.0, 1.0)
        hw = np.ceil(np.array(rel) * imgsz / stride + pad).astype(int) * stride
        out.append((idx, (int(hw[0]), int(hw[1]))))
    return out
