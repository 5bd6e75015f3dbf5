"""A deterministic synthetic classification set: one coloured shape per image on clutter (shape
crops), in the ImageNet folder layout (`<out>/{train,val}/<shape>/*.jpg`). Used by the tests and
as a quick demo; classes are the shapes of the detection generator (circle, square, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .synthetic import SHAPES, _background, draw_shape


@dataclass(frozen=True)
class ClassifySynthSpec:
    n_train: int = 40  # images per class
    n_val: int = 10
    imgsz: int = 64
    classes: int = 4
    seed: int = 0
    clutter: bool = True  # gradients, lines and dots behind the shape; False: a plain backdrop


def make_image(kind: str, size: int, rng: np.random.Generator, clutter: bool = True) -> np.ndarray:
    """One shape of the given kind, 50-90% of the image wide, near the centre, on clutter (or
    on a plain noisy backdrop that contrasts with it)."""
    if clutter:
        img = _background(size, rng)
        color = tuple(int(c) for c in rng.integers(30, 256, 3))
    else:
        dark = rng.random() < 0.5
        lo, hi = (0, 90) if dark else (160, 256)
        img = np.full((size, size, 3), rng.integers(lo, hi, 3), np.float32)
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        lo, hi = (160, 256) if dark else (0, 90)
        color = tuple(int(c) for c in rng.integers(lo, hi, 3))
    r = rng.uniform(0.25, 0.45) * size
    cx, cy = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
    draw_shape(img, kind, cx, cy, r, color, rng)
    return img


def make_classify_synthetic(out: str | Path, spec: ClassifySynthSpec = ClassifySynthSpec()):
    """Write the dataset under out/ and return out (same spec -> same bytes)."""
    out = Path(out)
    if spec.classes > len(SHAPES):
        raise ValueError(f"at most {len(SHAPES)} classes ({', '.join(SHAPES)})")
    for split, n, offset in (("train", spec.n_train, 0), ("val", spec.n_val, 1)):
        for k in range(spec.classes):
            folder = out / split / SHAPES[k]
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rng = np.random.default_rng([spec.seed, offset, k, i])
                img = make_image(SHAPES[k], spec.imgsz, rng, spec.clutter)
                cv2.imwrite(str(folder / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return out
