"""The preprocessing a model owns: how images become its input batch, and how boxes map back.

Every consumer (predict, val, the export check, the hub call, the benchmark) goes through the
model's `transform`, so a family's resize rule, channel order, pixel scale and normalisation are
written once. Two resize rules exist:

- ``letterbox`` (YOLOv5): keep the aspect ratio, pad to the target shape with grey.
- ``stretch`` (DAMO-YOLO): resize to the target shape exactly, no padding.

Two modes, because the official code preprocesses differently for inference and for validation:
``predict`` letterboxes the original image in one resize; ``val`` first resizes the long side to
imgsz (area interpolation when shrinking), then letterboxes into the batch shape without upscaling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import torch

from ..ops.letterbox import LetterboxInfo, batch_shape, eval_letterbox, letterbox, unletterbox

Mode = Literal["predict", "val"]
# keys stored in a checkpoint's or an exported file's metadata (under "preprocess")
_META_KEYS = ("resize", "rgb", "divisor", "pad_value", "rect", "mean", "std")


@dataclass(frozen=True)
class DetectTransform:
    """Images (BGR HWC uint8, as OpenCV reads them) -> one NCHW float batch, and back."""

    resize: Literal["letterbox", "stretch"] = "letterbox"
    rgb: bool = True  # channel order the network expects
    divisor: float = 255.0  # pixel values are divided by this (1.0: raw 0..255) ...
    mean: tuple[float, float, float] | None = None  # ... then normalised (in network order)
    std: tuple[float, float, float] | None = None
    pad_value: int = 114
    rect: bool = True  # predict: the smallest stride-multiple rectangle instead of a square
    stride: int = 32  # the network's largest stride: input sides are multiples of it
    imgsz: int = 640  # default input size (long side)

    # ------------------------------------------------------------------ shapes
    def square(self) -> DetectTransform:
        """The same transform with a fixed square input (exported files, fixed-shape batches)."""
        return dataclasses.replace(self, rect=False)

    def input_shape(self, shapes_hw: Sequence[tuple[int, int]], imgsz: int | None = None):
        """(h, w) of the batch tensor for images of these shapes (predict mode)."""
        size = imgsz or self.imgsz
        if self.resize == "letterbox" and self.rect:
            return batch_shape(shapes_hw, size, self.stride)
        return (size, size)

    # ------------------------------------------------------------------ images
    def resize_image(
        self,
        img: np.ndarray,
        shape: tuple[int, int],
        imgsz: int | None = None,
        mode: Mode = "predict",
    ) -> tuple[np.ndarray, LetterboxInfo]:
        """One BGR image resized into shape (h, w), in the network's channel order (uint8)."""
        if self.resize == "stretch":
            out, info = letterbox(img, shape, stretch=True)
        elif mode == "val":
            out, info = eval_letterbox(img, imgsz or self.imgsz, shape, self.pad_value)
        else:
            out, info = letterbox(img, shape, stride=self.stride, color=self.pad_value)
        if self.rgb:
            out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
        return out, info

    def stack(self, pixels: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 HWC images of one shape -> a uint8 NCHW tensor viewing NHWC memory (no copy of
        the transpose: channels-last strides, what the deployed networks read fastest)."""
        batch = pixels[0][None] if len(pixels) == 1 else np.stack(pixels)
        return torch.from_numpy(batch).permute(0, 3, 1, 2)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """A uint8 (or float 0..255) batch -> the float input the network expects."""
        x = x.float()
        if self.divisor != 1.0:
            x = x.div_(self.divisor) if x.is_floating_point() else x / self.divisor
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
            x = (x - mean) / std
        return x

    def prepare(
        self,
        images: Sequence[np.ndarray],
        imgsz: int | None = None,
        shape: tuple[int, int] | None = None,
        mode: Mode = "predict",
    ) -> tuple[torch.Tensor, list[LetterboxInfo]]:
        """BGR images -> (uint8 NCHW batch on the CPU, how each image was resized): the part of
        the transform without torch's thread pool, safe to run in a loader thread."""
        size = imgsz or self.imgsz
        shape = shape or self.input_shape([im.shape[:2] for im in images], size)
        done = [self.resize_image(im, shape, size, mode) for im in images]
        return self.stack([d[0] for d in done]), [d[1] for d in done]

    def __call__(
        self,
        images: Sequence[np.ndarray],
        imgsz: int | None = None,
        device: torch.device | str = "cpu",
        shape: tuple[int, int] | None = None,
        mode: Mode = "predict",
    ) -> tuple[torch.Tensor, list[LetterboxInfo]]:
        """BGR images -> (float NCHW batch on device, how each image was resized)."""
        x, infos = self.prepare(images, imgsz, shape, mode)
        return self.normalize(x.to(device)), infos

    # ------------------------------------------------------------------ back
    @staticmethod
    def map_back(boxes: torch.Tensor, info: LetterboxInfo, orig_shape: tuple[int, int]):
        """xyxy boxes in input pixels -> original-image pixels, clipped to the image."""
        return unletterbox(boxes, info, orig_shape)

    # ------------------------------------------------------------------ metadata
    def to_meta(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _META_KEYS}
        for k in ("mean", "std"):
            if out[k] is not None:
                out[k] = list(out[k])
        return out

    @classmethod
    def from_meta(cls, meta: dict[str, Any], stride: int, imgsz: int) -> DetectTransform:
        """The transform stored in a file's metadata (unknown keys of newer files ignored)."""
        kwargs = {k: meta[k] for k in _META_KEYS if k in meta}
        for k in ("mean", "std"):
            if kwargs.get(k) is not None:
                kwargs[k] = tuple(kwargs[k])
        return cls(**kwargs, stride=int(stride), imgsz=int(imgsz))
