"""The parity check that ends every export: PyTorch vs the exported runtime on a real image."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import YoloArenaError
from ..models.base import Detector

LOGGER = logging.getLogger("yoloarena")


class ParityError(YoloArenaError):
    """The exported file does not compute what the PyTorch model computes."""


@dataclass
class Parity:
    max_abs: dict[str, float]  # per output: max |exported - torch|
    allowed: dict[str, float]  # per output: the tolerance it had to meet (at the worst element)
    ok: bool
    note: str = ""  # a check that is not numeric (CoreML off macOS) says what it did

    def summary(self) -> str:
        text = ", ".join(f"{k} {v:.3g}" for k, v in self.max_abs.items())
        return "; ".join(t for t in (text, self.note) if t)


def tolerance(half: bool) -> tuple[float, float]:
    """(rtol, atol as a fraction of max|reference|): fp32 1e-4/1e-4; fp16 2e-2/1e-2."""
    return (2e-2, 1e-2) if half else (1e-4, 1e-4)


def compare_raw(
    ref: list[torch.Tensor], got: list[torch.Tensor], names: list[str], half: bool
) -> Parity:
    """Raw outputs agree within rtol plus atol x max|reference| per output."""
    rtol, atol = tolerance(half)
    diffs, allowed, ok = {}, {}, True
    for name, r, g in zip(names, ref, got, strict=True):
        r, g = r.detach().float().cpu(), g.detach().float().cpu()
        if r.shape != g.shape:
            raise ParityError(f"output '{name}' has shape {list(g.shape)}, PyTorch {list(r.shape)}")
        err = (g - r).abs()
        bound = rtol * r.abs() + atol * (float(r.abs().max()) if r.numel() else 0.0)
        diffs[name] = float(err.max()) if err.numel() else 0.0
        worst = int((err - bound).flatten().argmax()) if err.numel() else 0
        allowed[name] = float(bound.flatten()[worst]) if err.numel() else 0.0
        ok &= bool((err <= bound).all())
    return Parity(diffs, allowed, ok)


def compare_detections(ref: list[tuple], got: list[tuple], half: bool) -> Parity:
    """Detections (boxes, scores, labels) per image agree: same count and labels, close values."""
    rtol, atol = tolerance(half)
    diffs = {"boxes": 0.0, "scores": 0.0, "count": 0.0}
    ok = True
    for (rb, rs, rl), (gb, gs, gl) in zip(ref, got, strict=True):
        diffs["count"] = max(diffs["count"], float(abs(len(rs) - len(gs))))
        if len(rs) != len(gs):
            ok = False
            continue
        o1, o2 = _order(rb, rs, rl), _order(gb, gs, gl)
        rb, rs, rl, gb, gs, gl = rb[o1], rs[o1], rl[o1], gb[o2], gs[o2], gl[o2]
        ok &= bool((rl.cpu() == gl.cpu()).all())
        for key, r, g in (("boxes", rb, gb), ("scores", rs, gs)):
            r, g = r.float().cpu(), g.float().cpu()
            if r.numel():
                err = (g - r).abs()
                diffs[key] = max(diffs[key], float(err.max()))
                ok &= bool((err <= rtol * r.abs() + atol * max(float(r.abs().max()), 1.0)).all())
    return Parity(diffs, {}, ok)


def _order(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """A canonical order (label, x1, y1) robust to tiny score differences between runtimes."""
    b = boxes.float().cpu().numpy().round(1)
    return np.lexsort((b[:, 1], b[:, 0], labels.cpu().numpy())) if len(b) else np.zeros(0, int)


def check_image(source: str | Path | None) -> np.ndarray:
    """The image of the parity check: the given file, or a synthetic scene with objects."""
    if source is not None:
        from ..data.images import read_image

        return read_image(source)
    from ..data.synthetic import SynthSpec, make_image

    img, _ = make_image(SynthSpec(imgsz=640), np.random.default_rng(0))
    return img


def parity_input(model: Detector, image: np.ndarray, imgsz: tuple[int, int], batch: int):
    """The image preprocessed as the exported file expects it, repeated to the batch size."""
    x, _ = model.transform.square()([image], imgsz[0], "cpu", shape=tuple(imgsz))
    return x.expand(batch, -1, -1, -1).contiguous()
