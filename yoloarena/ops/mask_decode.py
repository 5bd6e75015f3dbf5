"""Instance masks at the original image size, computed only where they can be non-zero.

A YOLOv5-seg mask goes through two bilinear resizes, as upstream: the prototype-resolution
probabilities (input / 4) are upsampled to the network input and thresholded at 0.5, then the
letterbox padding is cut off and the binary mask is resized to the original image and thresholded
again. Done on whole images that is two full-size interpolations per detection (seconds per image
at val's 300 detections). A mask is zero outside its box, so here each detection is resized only
inside a window around it, with the same sampling as ``torch.nn.functional.interpolate(...,
mode="bilinear", align_corners=False)`` (source index (dst + 0.5) * in / out - 0.5, clamped at the
borders); the windows are then pasted into full masks or written straight to COCO RLE.

- default (``retina=False``, upstream predict and training-time val): crop to the box at the
  prototype resolution, then upsample;
- ``retina=True`` (upstream's COCO-json val, ``process_mask_upsample``, and ``--retina-masks``):
  upsample first, then crop with the box in input pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .letterbox import LetterboxInfo


@dataclass
class MaskPatch:
    """The non-zero window of one mask: bool pixels [h, w] whose top-left is (y0, x0)."""

    y0: int
    x0: int
    mask: np.ndarray

    @property
    def empty(self) -> bool:
        return not self.mask.size


EMPTY = np.zeros((0, 0), bool)


class _Axis:
    """Bilinear sampling along one axis from in_size to out_size (torch's rule, float32): output
    o reads sources i0[o] and i1[o] with weights l0[o] and l1[o]."""

    def __init__(self, out_size: int, in_size: int) -> None:
        scale = np.float32(in_size / out_size)
        src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
        src = np.maximum(src, np.float32(0))
        self.i0 = src.astype(np.int64)
        self.i1 = self.i0 + (self.i0 < in_size - 1)
        self.l1 = np.clip(src - self.i0, 0, 1).astype(np.float32)
        self.l0 = np.float32(1) - self.l1
        self.out_size = out_size

    def touching(self, lo: int, hi: int) -> tuple[int, int]:
        """The output range [a, b) whose samples read a source index in [lo, hi)."""
        return int(np.searchsorted(self.i1, lo)), int(np.searchsorted(self.i0, hi))


def _sample(src, ay: _Axis, ax: _Axis, rows, cols, r_lo: int, c_lo: int) -> np.ndarray:
    """Bilinear samples at output rows [a, b) x columns [c, d) of a source window: src holds the
    source indices from (r_lo, c_lo) on (every sample must fall inside it). Columns first, on
    the source rows that are read (strided gathers on the small array), then whole rows."""
    (a, b), (c, d) = rows, cols
    i0, i1 = ay.i0[a:b] - r_lo, ay.i1[a:b] - r_lo
    top = int(i0[0])
    s = src[top : int(i1[-1]) + 1]
    s = s[:, ax.i0[c:d] - c_lo] * ax.l0[c:d] + s[:, ax.i1[c:d] - c_lo] * ax.l1[c:d]
    return ay.l0[a:b, None] * s[i0 - top] + ay.l1[a:b, None] * s[i1 - top]


def _bordered(src: np.ndarray) -> np.ndarray:
    """src with one zero row and column on each side (the zeros outside a window)."""
    out = np.zeros((src.shape[0] + 2, src.shape[1] + 2), np.float32)
    out[1:-1, 1:-1] = src
    return out


def _ceil_range(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Integer pixels c with lo <= c < hi, within [0, size)."""
    return min(max(math.ceil(lo), 0), size), min(max(math.ceil(hi), 0), size)


def _trim(mask: np.ndarray, y0: int, x0: int) -> MaskPatch:
    rows = mask.any(1)
    if not rows.any():
        return MaskPatch(0, 0, EMPTY)
    cols = mask.any(0)
    r0, r1 = int(rows.argmax()), len(rows) - int(rows[::-1].argmax())
    c0, c1 = int(cols.argmax()), len(cols) - int(cols[::-1].argmax())
    return MaskPatch(y0 + r0, x0 + c0, mask[r0:r1, c0:c1])


def content_box(info: LetterboxInfo, orig_hw: Sequence[int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the original image's pixels inside the network input."""
    h_in, w_in = info.shape
    (sx, sy), (px, py) = info.scale_xy, info.pad_xy
    top, left = int(py), int(px)
    h = min(max(round(orig_hw[0] * sy), 1), h_in - top)
    w = min(max(round(orig_hw[1] * sx), 1), w_in - left)
    return top, left, h, w


def decode_masks(
    probs: torch.Tensor | np.ndarray,
    boxes: torch.Tensor | np.ndarray,
    info: LetterboxInfo,
    orig_hw: Sequence[int] | None = None,
    retina: bool = False,
) -> list[MaskPatch]:
    """Boolean mask windows of N detections at the original image size (or at the input size
    when orig_hw is None).

    probs [N, h, w]: sigmoid(coefficients @ prototypes), not cropped; boxes [N, 4] xyxy in input
    pixels; info: how the image became the input (its shape is the input's). Equal to
    process_masks(...) then unletterbox_masks(...) (see ops.masks), pixel for pixel up to float
    rounding, except that the cut is the image's exact content (odd paddings included).
    """
    probs = np.asarray(probs.detach().float().cpu() if isinstance(probs, torch.Tensor) else probs,
                       np.float32)  # fmt: skip
    boxes = np.asarray(boxes.detach().float().cpu() if isinstance(boxes, torch.Tensor) else boxes,
                       np.float32).reshape(-1, 4)  # fmt: skip
    mh, mw = probs.shape[1:]
    h_in, w_in = (int(v) for v in info.shape)
    ax1 = (_Axis(h_in, mh), _Axis(w_in, mw))
    if orig_hw is not None:
        top, left, ch, cw = content_box(info, orig_hw)
        ax2 = (_Axis(int(orig_hw[0]), ch), _Axis(int(orig_hw[1]), cw))
    out = []
    for k, box in enumerate(boxes.tolist()):
        m1 = _to_input(probs[k], box, ax1, retina)
        if orig_hw is None or m1.empty:
            out.append(m1)
            continue
        out.append(_to_original(m1, top, left, ch, cw, ax2))
    return out


def _to_input(p: np.ndarray, box, ax: tuple[_Axis, _Axis], retina: bool) -> MaskPatch:
    """The thresholded mask of one detection at the input size, as a window."""
    ay, axx = ax
    mh, mw = p.shape
    if retina:  # upsample, then keep input pixels inside the box
        y0, y1 = _ceil_range(box[1], box[3], ay.out_size)
        x0, x1 = _ceil_range(box[0], box[2], axx.out_size)
        if y1 <= y0 or x1 <= x0:
            return MaskPatch(0, 0, EMPTY)
        m = _sample(p, ay, axx, (y0, y1), (x0, x1), 0, 0) > 0.5
        return _trim(m, y0, x0)
    sx, sy = np.float32(mw / axx.out_size), np.float32(mh / ay.out_size)
    r0, r1 = _ceil_range(np.float32(box[1]) * sy, np.float32(box[3]) * sy, mh)  # crop at the
    c0, c1 = _ceil_range(np.float32(box[0]) * sx, np.float32(box[2]) * sx, mw)  # prototypes'
    if r1 <= r0 or c1 <= c0:
        return MaskPatch(0, 0, EMPTY)
    rows, cols = ay.touching(r0, r1), axx.touching(c0, c1)
    m = _sample(_bordered(p[r0:r1, c0:c1]), ay, axx, rows, cols, r0 - 1, c0 - 1) > 0.5
    return _trim(m, rows[0], cols[0])


def _to_original(m1: MaskPatch, top: int, left: int, ch: int, cw: int, ax) -> MaskPatch:
    """Cut the padding off an input-size mask window and resize it to the original image."""
    ay, axx = ax
    h, w = m1.mask.shape
    ya, yb = max(m1.y0, top), min(m1.y0 + h, top + ch)
    xa, xb = max(m1.x0, left), min(m1.x0 + w, left + cw)
    if yb <= ya or xb <= xa:
        return MaskPatch(0, 0, EMPTY)
    src = _bordered(m1.mask[ya - m1.y0 : yb - m1.y0, xa - m1.x0 : xb - m1.x0])
    r0, c0 = ya - top, xa - left  # in the content's pixels
    rows, cols = ay.touching(r0, r0 + yb - ya), axx.touching(c0, c0 + xb - xa)
    m = _sample(src, ay, axx, rows, cols, r0 - 1, c0 - 1) > 0.5
    return _trim(m, rows[0], cols[0])


def paste_masks(patches: Sequence[MaskPatch], shape: Sequence[int]) -> torch.Tensor:
    """[N, H, W] bool masks of the windows."""
    out = np.zeros((len(patches), int(shape[0]), int(shape[1])), bool)  # calloc: lazy zeros
    for k, p in enumerate(patches):
        if not p.empty:
            h, w = p.mask.shape
            out[k, p.y0 : p.y0 + h, p.x0 : p.x0 + w] = p.mask
    return torch.from_numpy(out)


def patch_rle(patch: MaskPatch, shape: Sequence[int]) -> dict:
    """COCO RLE (compressed counts as str) of one window in an image of shape (H, W), made from
    the window's columns only (compressed by faster-coco-eval)."""
    from faster_coco_eval.core import mask as mask_utils

    h_img, w_img = int(shape[0]), int(shape[1])
    if patch.empty:
        counts = [h_img * w_img]
    else:
        h, w = patch.mask.shape
        strip = np.zeros((w, h_img), np.uint8)  # the window's columns, full height, column-major
        strip[:, patch.y0 : patch.y0 + h] = patch.mask.T
        flat = strip.ravel()
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        bounds = np.concatenate(([0], change, [flat.size]))
        counts = ([0] if flat[0] else []) + np.diff(bounds).tolist()  # zeros first
        counts[0] += patch.x0 * h_img  # the columns left of the window
        tail = h_img * (w_img - patch.x0 - w)  # and right of it
        if flat[-1] and tail:
            counts.append(tail)
        else:
            counts[-1] += tail
    rle = mask_utils.frPyObjects({"counts": counts, "size": [h_img, w_img]}, h_img, w_img)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def decode_rle(rle: dict) -> np.ndarray:
    """A COCO RLE (counts as str or bytes) as a bool [H, W] mask (faster-coco-eval)."""
    from faster_coco_eval.core import mask as mask_utils

    counts = rle["counts"]
    rle = {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    return mask_utils.decode(rle).astype(bool)
