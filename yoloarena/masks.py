"""`Masks`: the instance masks of one image's `Results` (segmentation models).

A Results of a segmentation model holds its masks small: each detection's probabilities at the
prototype resolution (input / 4) and its box in input pixels. They are decoded to the original
image size on first use (``data``, ``xy``, ``rle()``, ``plot``), only inside each detection's
window (ops.mask_decode), and kept.

    r = model.predict("bus.jpg")[0]
    r.masks.data      # bool tensor [N, H, W] at the image's size
    r.masks.xy        # one polygon [K, 2] per detection, pixels (the largest outline)
    r.masks.xyn       # the same, normalised to 0..1
    r.masks.rle()     # COCO RLE per detection
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .ops.letterbox import LetterboxInfo
from .ops.mask_decode import MaskPatch, decode_masks, paste_masks, patch_rle


class Masks:
    """Masks of N detections at the original image size (see the module docstring)."""

    def __init__(
        self,
        probs: torch.Tensor,
        boxes: torch.Tensor,
        info: LetterboxInfo,
        orig_shape: Sequence[int],
        retina: bool = False,
    ) -> None:
        """probs [N, h, w]: sigmoid(coefficients @ prototypes); boxes [N, 4] xyxy in input
        pixels; info: how the image was letterboxed into the input; retina: upsample before
        cropping (upstream --retina-masks) instead of cropping at the prototype resolution."""
        self._probs = probs.detach().float().cpu()
        self._boxes = boxes.detach().float().cpu().reshape(-1, 4)
        self._info, self.retina = info, retina
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))
        self._patches: list[MaskPatch] | None = None
        self._data: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self._boxes.shape[0])

    def __repr__(self) -> str:
        h, w = self.orig_shape
        return f"Masks({len(self)} x {h}x{w}{', retina' if self.retina else ''})"

    @property
    def patches(self) -> list[MaskPatch]:
        """Each mask's non-zero window (decoded on first use, then kept)."""
        if self._patches is None:
            self._patches = decode_masks(self._probs, self._boxes, self._info, self.orig_shape,
                                         retina=self.retina)  # fmt: skip
            self._probs = self._probs[:0]  # the small masks are not needed any more
        return self._patches

    @property
    def data(self) -> torch.Tensor:
        """bool [N, H, W] at the original image size."""
        if self._data is None:
            self._data = paste_masks(self.patches, self.orig_shape)
        return self._data

    def numpy(self) -> np.ndarray:
        return self.data.numpy()

    def areas(self) -> list[int]:
        """Pixels in each mask."""
        return [int(p.mask.sum()) for p in self.patches]

    @property
    def xy(self) -> list[np.ndarray]:
        """One polygon [K, 2] (float32 pixels) per mask: the outline of its largest region
        ([0, 2] for an empty mask), as upstream's masks2segments."""
        out = []
        for p in self.patches:
            if p.empty:
                out.append(np.zeros((0, 2), np.float32))
                continue
            contours = cv2.findContours(p.mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                        cv2.CHAIN_APPROX_SIMPLE)[0]  # fmt: skip
            largest = max(contours, key=len).reshape(-1, 2).astype(np.float32)
            out.append(largest + np.array([p.x0, p.y0], np.float32))
        return out

    @property
    def xyn(self) -> list[np.ndarray]:
        """The polygons of ``xy`` divided by the image's width and height."""
        h, w = self.orig_shape
        return [poly / np.array([w, h], np.float32) for poly in self.xy]

    def rle(self) -> list[dict]:
        """COCO RLE of each mask (``counts`` as str, json-ready)."""
        return [patch_rle(p, self.orig_shape) for p in self.patches]

    def overlay(self, img: np.ndarray, colors: Sequence[tuple[int, int, int]], alpha=0.5):
        """img (BGR, the original size) with each mask blended in its colour, in place."""
        for p, color in zip(self.patches, colors, strict=True):
            if p.empty:
                continue
            h, w = p.mask.shape
            region = img[p.y0 : p.y0 + h, p.x0 : p.x0 + w]
            tint = np.asarray(color, np.float32)
            blended = region[p.mask].astype(np.float32) * (1 - alpha) + tint * alpha
            region[p.mask] = blended.round().astype(np.uint8)
        return img
