"""Instance masks from prototypes and coefficients (YOLOv5-seg), and mapping them back.

A detection's mask is sigmoid(coefficients @ prototypes) at the prototype resolution (input / 4),
kept only inside its box, then resized to the input and thresholded at 0.5. As upstream, the
default crops at the prototype resolution and then upsamples (so a box thinner than a prototype
pixel can give an empty mask); `retina=True` upsamples the probabilities first and crops at the
input resolution (sharper edges, more memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..structures import LetterboxInfo


def crop_masks(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """masks [N, H, W] with everything outside each box set to zero.

    boxes [N, 4] xyxy in mask pixels; pixel (row r, column c) is inside when x1 <= c < x2 and
    y1 <= r < y2 (integer indices against fractional edges, no half-pixel centre).
    """
    _, h, w = masks.shape
    x1, y1, x2, y2 = boxes[:, :, None].to(masks.dtype).unbind(1)  # each [N, 1]
    cols = torch.arange(w, device=masks.device, dtype=masks.dtype)[None, None, :]
    rows = torch.arange(h, device=masks.device, dtype=masks.dtype)[None, :, None]
    inside = (cols >= x1[:, :, None]) & (cols < x2[:, :, None])
    inside = inside & (rows >= y1[:, :, None]) & (rows < y2[:, :, None])
    return masks * inside


def mask_probabilities(prototypes: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """[N, h, w] sigmoid(coefficients [N, M] @ prototypes [M, h, w])."""
    m, h, w = prototypes.shape
    return (coefficients.float() @ prototypes.float().view(m, -1)).sigmoid().view(-1, h, w)


def process_masks(
    prototypes: torch.Tensor,
    coefficients: torch.Tensor,
    boxes: torch.Tensor,
    shape: Sequence[int],
    *,
    upsample: bool = True,
    retina: bool = False,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Boolean masks of N detections.

    prototypes [M, h, w]; coefficients [N, M] (as NMS leaves them); boxes [N, 4] xyxy in pixels
    of the input of size shape (H, W). Returns [N, H, W], or [N, h, w] with upsample=False.
    retina: upsample to (H, W) before cropping (v7.0 `process_mask_upsample`).
    """
    h_in, w_in = int(shape[0]), int(shape[1])
    probs = mask_probabilities(prototypes, coefficients)
    if not len(probs):
        out_hw = (h_in, w_in) if (upsample or retina) else probs.shape[1:]
        return torch.zeros((0, *out_hw), dtype=torch.bool, device=probs.device)
    if retina:
        probs = F.interpolate(probs[None], (h_in, w_in), mode="bilinear", align_corners=False)[0]
        return crop_masks(probs, boxes.float()) > threshold
    _, mh, mw = probs.shape
    scale = torch.tensor([mw / w_in, mh / h_in, mw / w_in, mh / h_in], device=boxes.device)
    probs = crop_masks(probs, boxes.float() * scale)
    if upsample:
        probs = F.interpolate(probs[None], (h_in, w_in), mode="bilinear", align_corners=False)[0]
    return probs > threshold


def unletterbox_masks(
    masks: torch.Tensor, info: LetterboxInfo, orig_shape: Sequence[int]
) -> torch.Tensor:
    """Masks [N, H, W] of the letterboxed input mapped to the original image [N, h0, w0] (bool):
    the padding is cut off (whole pixels, as upstream) and the rest resized bilinearly."""
    h, w = masks.shape[1:]
    px, py = info.pad_xy
    top, left = int(py), int(px)
    bottom, right = int(h - py), int(w - px)
    crop = masks[:, top:bottom, left:right].float()
    if not len(crop):
        return torch.zeros((0, *orig_shape), dtype=torch.bool, device=masks.device)
    out = F.interpolate(crop[None], tuple(orig_shape), mode="bilinear", align_corners=False)[0]
    return out > 0.5


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, M] IoU of masks a [N, H, W] and b [M, H, W] (two empty masks: IoU 1)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


def masks_to_polygons(masks: torch.Tensor | np.ndarray) -> list[np.ndarray]:
    """The outline of each mask's largest region as a [K, 2] float32 pixel polygon ([0, 2] when
    the mask is empty)."""
    out = []
    for m in np.asarray(masks.cpu() if isinstance(masks, torch.Tensor) else masks).astype(np.uint8):
        contours = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        if contours:
            largest = max(contours, key=len)
            out.append(largest.reshape(-1, 2).astype(np.float32))
        else:
            out.append(np.zeros((0, 2), np.float32))
    return out
