"""Issue 15, must-show 6: mosaic, random perspective, flips and mixup move the polygons with the
image; after every step each box equals the bounds of its polygon (within 1 px) and no vertex
lies outside the image; the masks the loader makes cover the objects' pixels.

The data: pure-colour polygons (one colour per class, no two overlapping) on grey, so that an
object's pixels can be found by colour after any warp.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from yoloarena.data import augment_seg as S
from yoloarena.data.load import load_dataset
from yoloarena.data.polygons import polygon_mask
from yoloarena.data.seg_loader import SegTrainDataset, collate_seg
from yoloarena.data.train_loader import PipelineSpec
from yoloarena.hyp import Hyp

LEVELS = (0, 128, 255)
COLORS = [(b, g, r) for b in LEVELS for g in LEVELS for r in LEVELS if len({b, g, r}) > 1][:16]
NO_COLOUR = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0}


def _star(cx: float, cy: float, r: float, k: int) -> np.ndarray:
    n = 3 + k % 3  # triangles, squares and (concave) pentagrams
    if n == 5:
        t = np.arange(10) * math.pi / 5
        radius = np.where(np.arange(10) % 2, r * 0.45, r)
    else:
        t, radius = np.arange(n) * 2 * math.pi / n + 0.3, np.full(n, r)
    return np.stack((cx + radius * np.cos(t), cy + radius * np.sin(t)), 1)


def make_dataset(root, n: int = 4):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    for i in range(n):
        h, w = 200 + 30 * i, 260 - 20 * i
        img = np.full((h, w, 3), 100, np.uint8)
        rows = []
        for j, cls in enumerate(range(4 * i, 4 * i + 4)):
            cx, cy = (w / 4 if j % 2 == 0 else 3 * w / 4), (h / 4 if j < 2 else 3 * h / 4)
            poly = _star(cx, cy, min(h, w) / 5, cls)
            cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], COLORS[cls], shift=4)
            xy = " ".join(f"{v:.6f}" for v in (poly / [w, h]).ravel())
            rows.append(f"{cls} {xy}")
        (root / "labels" / f"{i}.txt").write_text("\n".join(rows) + "\n")
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
    (root / "d.yaml").write_text(f"train: images\nval: images\nnames: {list(range(16))}\n")
    return load_dataset(root / "d.yaml", "train")


def check_step(img: np.ndarray, labels: np.ndarray, polys: list, bgr: bool = True) -> int:
    """Boxes = polygon bounds, vertices inside, and each object's colour inside its polygon."""
    h, w = img.shape[:2]
    assert len(labels) == len(polys)
    checked = 0
    for (cls, *box), poly in zip(labels, polys, strict=True):
        assert len(poly) >= 3
        assert (poly >= 0).all() and (poly[:, 0] <= w).all() and (poly[:, 1] <= h).all()
        np.testing.assert_allclose(box, [*poly.min(0), *poly.max(0)], atol=1.0)
        if list(labels[:, 0]).count(cls) > 1:  # the same image twice in one mosaic
            continue
        colour = np.array(COLORS[int(cls)] if bgr else COLORS[int(cls)][::-1])
        pixels = np.abs(img.astype(int) - colour).sum(2) < 12
        mask = polygon_mask(np.round(poly), (h, w)).astype(bool)
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if pixels.sum() > 20:  # pixels of the object's colour lie inside its (moved) polygon
            assert (pixels & mask).sum() >= 0.97 * pixels.sum()
            checked += 1
    return checked


@pytest.mark.parametrize("seed", range(6))
def test_polygons_move_with_the_image(tmp_path, seed: int) -> None:
    hyp = Hyp(**NO_COLOUR, degrees=15.0, shear=5.0, perspective=0.0005, scale=0.5)
    ds = SegTrainDataset(make_dataset(tmp_path), hyp, PipelineSpec(256, 3, seed=seed))
    rng = np.random.default_rng(seed)
    parts = [ds.load_resized_seg(int(i)) for i in rng.permutation(4)]
    for img, labels, polys in parts:
        check_step(img, labels, polys)
    img, labels, polys = S.mosaic4_seg(parts, 256, rng)
    checked = check_step(img, labels, polys)
    img, labels, polys = S.random_perspective_seg(
        img, labels, polys, rng, (256, 256), 15.0, 0.1, 0.5, 5.0, 0.0005
    )
    checked += check_step(img, labels, polys)
    for horizontal in (True, False):
        img, labels, polys = S.flip_seg(img, labels, polys, horizontal)
        checked += check_step(img, labels, polys)
    other = S.random_perspective_seg(*S.mosaic4_seg(parts, 256, rng), rng, (256, 256))
    _, mixed, mixed_polys = S.mixup_seg((img, labels, polys), other, rng)
    assert len(mixed) == len(labels) + len(other[1]) == len(mixed_polys)
    assert checked >= 10


@pytest.mark.parametrize("overlap", [True, False])
def test_loader_masks_cover_the_objects(tmp_path, overlap: bool) -> None:
    hyp = Hyp(**NO_COLOUR, degrees=10.0, scale=0.5, fliplr=0.5, flipud=0.5, mixup=0.3)
    ds = SegTrainDataset(make_dataset(tmp_path), hyp, PipelineSpec(256, 3, seed=3),
                         overlap=overlap)  # fmt: skip
    checked = 0
    for key in range(2 * len(ds)):
        img, labels, masks = ds[key]
        rgb = img.permute(1, 2, 0).numpy()
        assert masks.shape == ((64, 64) if overlap else (len(labels), 64, 64))
        for k, (cls, x1, y1, x2, y2) in enumerate(labels):
            m = (masks == k + 1) if overlap else masks[k].bool()
            ys, xs = np.nonzero(m.numpy())
            if len(xs):  # mask pixels lie in the box (at 1/4 resolution, 1 px of slack)
                assert xs.min() >= x1 / 4 - 1 and xs.max() <= x2 / 4 + 1
                assert ys.min() >= y1 / 4 - 1 and ys.max() <= y2 / 4 + 1
            if list(labels[:, 0]).count(cls) > 1:
                continue
            colour = np.array(COLORS[int(cls)][::-1])
            pixels = np.abs(rgb.astype(int) - colour).sum(2) < 12
            small = cv2.resize(pixels.astype(np.uint8), (64, 64), interpolation=cv2.INTER_AREA)
            if small.sum() >= 8:
                assert (small.astype(bool) & m.numpy().astype(bool)).sum() >= 0.8 * small.sum()
                checked += 1
    assert checked >= 10
    images, targets = collate_seg([ds[0], ds[1], ds[2]])
    assert targets.overlap == overlap and images.shape == (3, 3, 256, 256)
    n = len(targets)
    assert targets.masks.shape == ((3, 64, 64) if overlap else (n, 64, 64))


def test_overlap_mode_paints_larger_instances_first(tmp_path) -> None:
    ds = SegTrainDataset(make_dataset(tmp_path), Hyp(), PipelineSpec(128, 1))
    big = np.array([[0, 0], [80, 0], [80, 80], [0, 80]], np.float32)
    small = np.array([[20, 20], [40, 20], [40, 40], [20, 40]], np.float32)
    labels = np.array([[1, 20, 20, 40, 40], [2, 0, 0, 80, 80]], np.float32)
    out, mask = ds.make_masks((128, 128), labels, [small, big])
    assert out[:, 0].tolist() == [2, 1]  # rows reordered: largest first
    assert mask[2, 2] == 1 and mask[7, 7] == 2  # the smaller one wins where they overlap
