"""Issue 5, must-show 4: augmented boxes stay consistent with the pixels they label."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from yoloarena.data import augment as A
from yoloarena.data.load import load_dataset
from yoloarena.data.train_loader import PipelineSpec, TrainDataset, collate
from yoloarena.hyp import Hyp

# 16 distinct colours (channel levels 0, 128, 255; no greys), one per class; image i holds the
# objects of classes 4i .. 4i+3, so every object has its own colour
LEVELS = (0, 128, 255)
COLORS = [(b, g, r) for b in LEVELS for g in LEVELS for r in LEVELS if len({b, g, r}) > 1][:16]


def make_dataset(root, n: int = 4):
    """n images (different sizes) with pure-colour rectangles at known boxes."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = (240 + 40 * i, 320 - 20 * i)
        img = np.full((h, w, 3), 40, np.uint8)
        placed, rows = [], []
        for cls in range(4 * i, 4 * i + 4):
            while True:
                bw, bh = rng.integers(20, 70, 2)
                x1, y1 = rng.integers(0, w - bw), rng.integers(0, h - bh)
                box = (x1, y1, x1 + bw, y1 + bh)
                if not any(_overlaps(box, p) for p in placed):
                    break
            placed.append(box)
            img[y1 : y1 + bh, x1 : x1 + bw] = COLORS[cls]
            rows.append(f"{cls} {(x1 + bw / 2) / w} {(y1 + bh / 2) / h} {bw / w} {bh / h}")
        (root / "labels" / "train" / f"{i}.txt").write_text("\n".join(rows) + "\n")
        cv2.imwrite(str(root / "images" / "train" / f"{i}.png"), img)
    names = [f"c{k}" for k in range(16)]
    (root / "d.yaml").write_text(f"train: images/train\nval: images/train\nnames: {names}\n")
    return load_dataset(root / "d.yaml", "train")


def _overlaps(a, b, margin: int = 6) -> bool:
    return not (
        a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1]
    )


def check_sample(img_rgb: np.ndarray, labels: np.ndarray, tight: bool) -> int:
    """Every object's pixels lie in its box (and fill it when the warp is axis-aligned)."""
    h, w = img_rgb.shape[:2]
    assert (
        (labels[:, 1:] >= 0).all()
        and (labels[:, [1, 3]] <= w).all()
        and (labels[:, [2, 4]] <= h).all()
    )
    assert (labels[:, 3] > labels[:, 1]).all() and (labels[:, 4] > labels[:, 2]).all()
    classes = labels[:, 0].astype(int).tolist()
    checked = 0
    for cls, x1, y1, x2, y2 in labels:
        if classes.count(int(cls)) > 1:  # the same image twice in one mosaic
            continue
        rgb = np.array(COLORS[int(cls)])[::-1]  # the pipeline returns RGB
        mask = (np.abs(img_rgb.astype(int) - rgb).sum(2) < 12).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        box_area = (x2 - x1) * (y2 - y1)
        covered = 0
        for x, y, bw, bh, area in stats[1:n]:
            inside = x >= x1 - 1.5 and y >= y1 - 1.5 and x + bw <= x2 + 1.5 and y + bh <= y2 + 1.5
            if inside:
                covered += area
            else:  # only what the filter drops may be left without a box: slivers, crumbs
                assert min(bw, bh) <= 3 or area < 0.1 * box_area, "object pixels outside their box"
        assert covered > 0, "a label without its object"
        if tight:
            assert covered >= 0.6 * box_area, "box much larger than its object"
        checked += 1
    return checked


NO_COLOUR = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "mixup": 0.0}


@pytest.mark.parametrize("settings", [
    {"mosaic": 1.0, "degrees": 0.0, "scale": 0.5, "translate": 0.1, "fliplr": 0.5, "flipud": 0.5},
    {"mosaic": 0.0, "degrees": 0.0, "scale": 0.3, "translate": 0.2, "fliplr": 0.5},
])  # fmt: skip
def test_axis_aligned_boxes_are_tight(tmp_path, settings) -> None:
    ds = TrainDataset(
        make_dataset(tmp_path), Hyp(**NO_COLOUR, **settings), PipelineSpec(256, 3, seed=1)
    )
    checked = 0
    for key in range(3 * len(ds)):
        img, labels = ds[key]
        checked += check_sample(img.permute(1, 2, 0).numpy(), labels, tight=True)
    assert checked > 20


def test_rotated_and_sheared_boxes_enclose_the_object(tmp_path) -> None:
    hyp = Hyp(**NO_COLOUR, mosaic=1.0, degrees=20.0, shear=5.0, scale=0.3, translate=0.1)
    ds = TrainDataset(make_dataset(tmp_path), hyp, PipelineSpec(256, 2, seed=2))
    checked = 0
    for key in range(2 * len(ds)):
        img, labels = ds[key]
        checked += check_sample(img.permute(1, 2, 0).numpy(), labels, tight=False)
    assert checked > 10


def test_weak_boxes_are_filtered_by_the_stated_rule() -> None:
    before = np.array([[0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 100],
                       [0, 0, 100, 100]], float)  # fmt: skip
    after = np.array(
        [[0, 0, 2, 50], [0, 0, 50, 2], [0, 0, 20, 40], [0, 0, 40, 40], [0, 0, 30, 30]], float
    )
    # width/height must exceed 2 px, area must keep > 10% of the original, aspect ratio < 100
    assert A.box_candidates(before, after).tolist() == [False, False, False, True, False]
    thin = np.array([[0, 0, 300, 4.0], [0, 0, 500, 4.0]])
    assert A.box_candidates(thin, thin).tolist() == [True, False]  # aspect 75 kept, 125 dropped


def test_samples_are_reproducible_and_collate(tmp_path) -> None:
    ds = TrainDataset(make_dataset(tmp_path), Hyp(mixup=0.5), PipelineSpec(128, 4, seed=7))
    a, b = ds[5], ds[5]
    assert (a[0] == b[0]).all() and np.array_equal(a[1], b[1])
    c = ds[5 + len(ds)]  # same image, next epoch: a different draw
    assert not (a[0] == c[0]).all()
    images, targets = collate([ds[0], ds[1], ds[2]])
    assert images.shape == (3, 3, 128, 128) and images.dtype.__str__() == "torch.uint8"
    assert targets.image_size == (128, 128) and len(targets) == sum(len(ds[i][1]) for i in range(3))
    assert set(targets.batch_index.tolist()) <= {0, 1, 2}
