"""The preprocessing a classifier owns: images -> its input batch (eval) and training augmentation.

Eval (predict, val, export checks), as upstream's classify/predict.py and val loader: crop the
largest centred square (offsets by integer division), resize it to imgsz x imgsz with OpenCV's
bilinear rule (`INTER_LINEAR`, no antialiasing), BGR -> RGB, then the pixel scale and the
normalisation (float, /255, then `torchvision.transforms.v2`'s normalize: ImageNet mean/std).
The resize stays OpenCV's on purpose: torchvision's bilinear resize of the same uint8 crop
differs by one grey level in about a fifth of the pixels of bus.jpg, which the parity fixture
of the official preprocessing would not accept.

Train, as upstream's classify augmentation (its Albumentations pipeline), written with
`torchvision.transforms.v2` on uint8 CHW tensors: random resized crop (scale 0.08-1, ratio
3/4-4/3), horizontal flip 0.5, optional vertical flip, colour jitter (brightness, contrast,
saturation 0.4, hue 0). Normalisation happens on the batch, after the loader, as for detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_META_KEYS = ("resize", "rgb", "divisor", "mean", "std")


@dataclass(frozen=True)
class ClassifyAugment:
    """Training augmentation settings (upstream's classify defaults)."""

    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (0.75, 1.0 / 0.75)
    hflip: float = 0.5
    vflip: float = 0.0
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.0


@dataclass(frozen=True)
class ClassifyTransform:
    """BGR HWC uint8 images (as OpenCV reads them) -> one normalised NCHW float batch."""

    resize: Literal["centre_crop"] = "centre_crop"
    rgb: bool = True  # channel order the network expects
    divisor: float = 255.0  # pixel values are divided by this (1.0: raw 0..255) ...
    mean: tuple[float, float, float] | None = IMAGENET_MEAN  # ... then normalised
    std: tuple[float, float, float] | None = IMAGENET_STD
    imgsz: int = 224
    stride: int = 32  # input sides are multiples of it

    # ------------------------------------------------------------------ shapes
    def square(self) -> ClassifyTransform:
        """The input is always square (kept for the shared transform interface)."""
        return self

    def input_shape(self, shapes_hw: Sequence[tuple[int, int]] = (), imgsz: int | None = None):
        size = imgsz or self.imgsz
        return (size, size)

    # ------------------------------------------------------------------ images
    def resize_image(
        self,
        img: np.ndarray,
        shape: tuple[int, int] | None = None,
        imgsz: int | None = None,
        mode: str = "predict",
    ) -> tuple[np.ndarray, None]:
        """One BGR image -> its centred square, resized, in the network's channel order."""
        h, w = shape or self.input_shape((), imgsz)
        ih, iw = img.shape[:2]
        m = min(ih, iw)
        top, left = (ih - m) // 2, (iw - m) // 2
        crop = img[top : top + m, left : left + m]
        if (m, m) != (h, w):
            crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.rgb:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(crop), None

    def stack(self, pixels: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 HWC images of one shape -> a uint8 NCHW tensor viewing NHWC memory."""
        batch = pixels[0][None] if len(pixels) == 1 else np.stack(pixels)
        return torch.from_numpy(batch).permute(0, 3, 1, 2)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """A uint8 (or float 0..255) batch -> the float input the network expects."""
        x = x.float()  # a division as upstream's ToTensor (v2's to_dtype multiplies by 1/255,
        if self.divisor != 1.0:  # one ulp off in some pixels)
            x = x / self.divisor
        if self.mean is not None and self.std is not None:
            x = v2.functional.normalize(x, list(self.mean), list(self.std))
        return x

    def __call__(
        self,
        images: Sequence[np.ndarray],
        imgsz: int | None = None,
        device: torch.device | str = "cpu",
        shape: tuple[int, int] | None = None,
        mode: str = "predict",
    ) -> tuple[torch.Tensor, list[None]]:
        """BGR images -> (float NCHW batch on device, [None] per image: nothing to map back)."""
        x, infos = self.prepare(images, imgsz, shape, mode)
        return self.normalize(x.to(device)), infos

    def prepare(
        self,
        images: Sequence[np.ndarray],
        imgsz: int | None = None,
        shape: tuple[int, int] | None = None,
        mode: str = "predict",
    ) -> tuple[torch.Tensor, list[None]]:
        """BGR images -> (uint8 NCHW batch on the CPU, [None] per image): the part without
        torch's thread pool, as the detection transform's (predict runs it in a thread)."""
        shape = shape or self.input_shape((), imgsz)
        pixels = [self.resize_image(im, shape)[0] for im in images]
        return self.stack(pixels), [None] * len(pixels)

    # ------------------------------------------------------------------ training
    def train_transform(self, imgsz: int, aug: ClassifyAugment | None = None) -> v2.Compose:
        """Random augmentation of one uint8 CHW image (network channel order) to imgsz."""
        a = aug or ClassifyAugment()
        steps: list[Any] = [
            v2.RandomResizedCrop(imgsz, scale=a.scale, ratio=a.ratio, antialias=True),
        ]
        if a.hflip > 0:
            steps.append(v2.RandomHorizontalFlip(a.hflip))
        if a.vflip > 0:
            steps.append(v2.RandomVerticalFlip(a.vflip))
        if max(a.brightness, a.contrast, a.saturation, a.hue) > 0:
            steps.append(v2.ColorJitter(a.brightness, a.contrast, a.saturation, a.hue))
        return v2.Compose(steps)

    # ------------------------------------------------------------------ metadata
    def to_meta(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _META_KEYS}
        for k in ("mean", "std"):
            if out[k] is not None:
                out[k] = list(out[k])
        return out

    @classmethod
    def from_meta(cls, meta: dict[str, Any], stride: int, imgsz: int) -> ClassifyTransform:
        """The transform stored in a file's metadata (unknown keys of newer files ignored)."""
        kwargs = {k: meta[k] for k in _META_KEYS if k in meta}
        for k in ("mean", "std"):
            if kwargs.get(k) is not None:
                kwargs[k] = tuple(kwargs[k])
        return cls(**kwargs, stride=int(stride), imgsz=int(imgsz))
