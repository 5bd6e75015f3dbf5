"""Issue 16, must-show 3: `yoloarena convert to=classify` cuts one crop per non-crowd box into the
right class folder (counted exactly from the labels), a second run is a no-op, and bad boxes are
reported, never crashed on."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import shared_path
from PIL import Image

from yoloarena.cli import main
from yoloarena.data.classify import load_classify


@functools.cache
def _coco128_cls() -> tuple[Path, str]:
    """coco128 converted once (both splits: its yaml names the same folder for train and val)."""
    out = Path(tempfile.mkdtemp(prefix="yoloarena-coco128-cls-")) / "coco128-cls"
    data = shared_path("data", "coco128", "coco128.yaml")
    assert main(["convert", f"data={data}", "to=classify", f"out={out}"]) == 0
    return out, str(data)


def _label_rows(root: Path) -> list[tuple[str, int, int, list[float]]]:
    """(image stem, row index, class, normalised cx cy w h) of every label row, read directly."""
    rows = []
    for f in sorted((root / "labels" / "train2017").glob("*.txt")):
        for j, line in enumerate(x for x in f.read_text().splitlines() if x.strip()):
            c, *box = line.split()
            rows.append((f.stem, j, int(c), [float(v) for v in box]))
    return rows


@pytest.mark.slow
def test_coco128_one_crop_per_box_in_its_class_folder() -> None:
    out, data = _coco128_cls()
    root = Path(data).parent
    names = yaml.safe_load(Path(data).read_text())["names"]
    rows = _label_rows(root)
    assert len(rows) == 929  # the coco128 label files hold 929 boxes, none crowd
    sizes = {}
    for stem in {r[0] for r in rows}:
        with Image.open(root / "images" / "train2017" / f"{stem}.jpg") as im:
            sizes[stem] = im.size
    for split in ("train", "val"):
        crops = sorted((out / split).rglob("*.jpg"))
        assert len(crops) == len(rows)
        for stem, j, c, (_, _, w, h) in rows:
            iw, ih = sizes[stem]
            with Image.open(out / split / names[c] / f"{stem}_{j}.jpg") as crop:
                cw, ch = crop.size
            assert abs(cw - w * iw) <= 2 and abs(ch - h * ih) <= 2, (stem, j)  # the box's size
    ds = load_classify(out, "val")
    assert len(ds) == 929 and not ds.report.problems
    per_class = {names[c]: 0 for _, _, c, _ in rows}
    for _, _, c, _ in rows:
        per_class[names[c]] += 1
    assert {k: v for k, v in ds.report.per_class.items()} == dict(sorted(per_class.items()))


@pytest.mark.slow
def test_second_run_is_a_no_op(caplog) -> None:
    out, data = _coco128_cls()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert main(["convert", f"data={data}", "to=classify", f"out={out}"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert "929 crops in 71 classes (0 written, 929 already there)" in caplog.text
    assert main(["convert", f"data={data}", "to=classify", f"out={out}", "pad=0.1"]) == 1  # other


def _tiny_detection_set(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for stem in ("a", "b"):
        img = rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), img)
    (root / "labels" / "a.txt").write_text(
        "0 0.5 0.5 0.4 0.5\n"  # 40 x 40 px: kept
        "1 0.5 0.5 0.0 0.3\n"  # zero width: the check drops it
        "1 3.0 3.0 0.2 0.2\n"  # far outside the image: dropped
        "1 0.2 0.2 0.03 0.05\n"  # 3 x 4 px: shorter than min_size
    )
    (root / "labels" / "b.txt").write_text("1 0.25 0.5 0.3 0.5\n")
    (root / "images" / "c.jpg").write_bytes(b"not a jpeg")  # corrupt image
    (root / "labels" / "c.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    spec = {"path": ".", "train": "images", "val": "images", "names": ["cat", "dog/wolf"]}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


def test_bad_boxes_and_images_are_reported(tmp_path, caplog) -> None:
    data = _tiny_detection_set(tmp_path / "det")
    out = tmp_path / "cls"
    assert main(["convert", f"data={data}", "to=classify", f"out={out}", "min_size=8"]) == 0
    crops = sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg"))
    assert crops == ["train/cat/a_0.jpg", "train/dog_wolf/b_0.jpg", "val/cat/a_0.jpg",
                     "val/dog_wolf/b_0.jpg"]  # fmt: skip
    log = caplog.text
    labels, images = tmp_path / "det" / "labels", tmp_path / "det" / "images"
    assert f"{labels / 'a.txt'}:2: box with zero or negative width or height" in log
    assert f"{labels / 'a.txt'}:3: box or polygon far outside the image" in log
    assert f"{images / 'a.jpg'}: crop shorter than min_size (box 1: 4x4 px)" in log
    assert f"{images / 'c.jpg'}: image cannot be decoded" in log
    manifest = json.loads((out / "convert.json").read_text())
    assert manifest["crops"] == {"train": 2, "val": 2}


def test_crowd_boxes_give_no_crop(tmp_path) -> None:
    img = np.full((60, 80, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "1.jpg"), img)
    coco = {
        "images": [{"id": 1, "file_name": "1.jpg", "width": 80, "height": 60}],
        "categories": [{"id": 3, "name": "car"}, {"id": 7, "name": "train"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 30, 20], "area": 600,
             "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 80, 60], "area": 4800,
             "iscrowd": 1},
        ],
    }  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    out = tmp_path / "cls"
    assert main(["convert", f"data={tmp_path / 'ann.json'}", "to=classify", f"out={out}"]) == 0
    assert [str(p.relative_to(out)) for p in out.rglob("*.jpg")] == ["val/car/1_0.jpg"]
    with Image.open(out / "val" / "car" / "1_0.jpg") as im:
        assert im.size == (30, 20)
