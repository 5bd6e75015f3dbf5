"""A generated YOLO dataset with one or more files for every kind of problem `check` knows.

`make_bad_dataset(root)` writes it and returns what a correct loader must keep and report.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

GOOD_ROW = "0 0.5 0.5 0.2 0.4"


def _image(path: Path, h: int = 64, w: int = 96, seed: int = 0) -> None:
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)


def make_bad_dataset(root: Path) -> dict:
    images, labels = root / "images" / "train", root / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    rows: dict[str, str] = {}

    # kept images, with the number of boxes that must survive
    _image(images / "good.jpg")
    rows["good"] = f"{GOOD_ROW}\n1 0.25 0.25 0.1 0.1\n"
    _image(images / "messy.png", seed=1)
    rows["messy"] = "\n".join([
        GOOD_ROW,                      # kept
        GOOD_ROW,                      # duplicate -> removed
        "0 0.5 0.5 0.2",               # 4 columns
        "0 a 0.5 0.2 0.2",             # non-numeric
        "0 nan 0.5 0.2 0.2",           # non-finite
        "-1 0.5 0.5 0.2 0.2",          # negative class
        "1.5 0.5 0.5 0.2 0.2",         # class not an integer
        "7 0.5 0.5 0.2 0.2",           # class out of range (3 names)
        "2 1.6 0.5 0.2 0.2",           # far outside -> dropped
        "2 0.5 0.5 0.0 0.2",           # zero width
        "2 0.005 0.5 0.02 0.2",        # 0.005 outside on the left -> clipped, kept
        "1 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3",  # polygon -> box, kept
    ]) + "\n"  # fmt: skip
    gray = np.random.default_rng(2).integers(0, 255, (40, 50), dtype=np.uint8)
    cv2.imwrite(str(images / "gray.png"), gray)
    rows["gray"] = GOOD_ROW + "\n"
    rgba = np.random.default_rng(3).integers(0, 255, (40, 50, 4), dtype=np.uint8)
    cv2.imwrite(str(images / "rgba.png"), rgba)
    rows["rgba"] = GOOD_ROW + "\n"
    deep = (np.random.default_rng(4).random((40, 50, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(images / "deep16.png"), deep)
    rows["deep16"] = GOOD_ROW + "\n"
    rotated = Image.fromarray(np.zeros((30, 60, 3), np.uint8))  # stored 60 wide, 30 high
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90: decodes as 30 wide, 60 high
    rotated.save(images / "exif_rotated.jpg", exif=exif)
    rows["exif_rotated"] = GOOD_ROW + "\n"
    _image(images / "truncated.jpg", 80, 80, seed=5)
    data = (images / "truncated.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) * 3 // 4])
    rows["truncated"] = GOOD_ROW + "\n"
    _image(images / "background.jpg", seed=6)  # no label file
    _image(images / "empty_label.jpg", seed=7)
    rows["empty_label"] = ""

    # dropped or ignored
    (images / "zero.jpg").write_bytes(b"")
    rows["zero"] = GOOD_ROW + "\n"
    (images / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    rows["corrupt"] = GOOD_ROW + "\n"
    _image(images / "tiny.png", 6, 6, seed=8)
    rows["tiny"] = GOOD_ROW + "\n"
    _image(images / "binary_label.jpg", seed=9)
    (labels / "binary_label.txt").write_bytes(b"\xff\xfe\x00\x81\x82 binary")
    (images / "notes.heic").write_bytes(b"not supported")
    rows["ghost"] = GOOD_ROW + "\n"  # label without an image

    for stem, text in rows.items():
        (labels / f"{stem}.txt").write_text(text)
    spec = "path: .\ntrain: images/train\nval: images/train\nnames: [cat, dog, bird]\n"
    (root / "data.yaml").write_text(spec + "extra_key: kept\n")
    return {
        "yaml": root / "data.yaml",
        "kept": {
            "good": 2,
            "messy": 3,
            "gray": 1,
            "rgba": 1,
            "deep16": 1,
            "exif_rotated": 1,
            "truncated": 1,
            "background": 0,
            "empty_label": 0,
        },
        "shapes": {
            "gray": (40, 50),
            "rgba": (40, 50),
            "deep16": (40, 50),
            "exif_rotated": (60, 30),
        },
        "problems": {
            "image.empty": "zero.jpg",
            "image.corrupt": "corrupt.jpg",
            "image.too_small": "tiny.png",
            "image.truncated": "truncated.jpg",
            "image.unsupported": "notes.heic",
            "image.no_label": "background.jpg",
            "label.unreadable": "binary_label.txt",
            "label.orphan": "ghost.txt",
            "label.duplicate": "messy.txt",
            "label.columns": "messy.txt:3",
            "label.non_numeric": "messy.txt:4",
            "label.non_finite": "messy.txt:5",
            "label.class_negative": "messy.txt:6",
            "label.class_not_integer": "messy.txt:7",
            "label.class_out_of_range": "messy.txt:8",
            "label.out_of_bounds": "messy.txt:9",
            "label.zero_size": "messy.txt:10",
            "label.clipped": "messy.txt:11",
        },
    }
