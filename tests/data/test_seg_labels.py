"""Issue 15, must-show 5 and 9: segmentation labels (YOLO polygons, COCO polygons and RLE) load
into one structure, convert both ways, and every problem is reported by file and line.

References: the original COCO json of coco128 and the Ultralytics coco128-seg labels converted
from it (shared/reference/coco128-seg-labels, data/PROVENANCE.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import shared_path

from yoloarena.cli import main
from yoloarena.data.load import check_dataset, load_dataset
from yoloarena.data.polygons import clip_polygon, merge_segments, polygon_area
from yoloarena.data.report import KINDS

FIGURES: dict[str, float] = {}


def read_rows(path: Path) -> list[tuple[int, np.ndarray]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            values = line.split()
            rows.append((int(values[0]), np.array(values[1:], np.float64)))
    return rows


def compare_label_folders(got: Path, expected: Path, stems: list[str]) -> float:
    """Same rows (class, number of points) in the same order; returns the largest |diff|."""
    worst = 0.0
    for stem in stems:
        a, b = read_rows(got / f"{stem}.txt"), read_rows(expected / f"{stem}.txt")
        assert [(c, len(p)) for c, p in a] == [(c, len(p)) for c, p in b], stem
        for (_, pa), (_, pb) in zip(a, b, strict=True):
            worst = max(worst, float(np.abs(pa - pb).max()))
    return worst


def _coco128_seg_converted(out: str) -> Path:
    json_file = shared_path(
        "data", "coco128", "annotations", "instances_train2017_coco_original.json"
    )
    assert main(["convert", f"data={json_file}", "to=yolo", f"out={out}"]) == 0
    return Path(out) / "labels" / "val"


def test_coco_polygons_convert_to_the_ultralytics_labels(tmp_path) -> None:
    reference = shared_path("reference", "coco128-seg-labels")
    labels = _coco128_seg_converted(str(tmp_path / "yolo"))
    stems = sorted(p.stem for p in reference.glob("*.txt"))
    assert len(stems) == 126
    assert sorted(p.stem for p in labels.glob("*.txt") if p.stat().st_size) == stems
    worst = compare_label_folders(labels, reference, stems)
    FIGURES["coco -> yolo-seg vs reference, max |diff|"] = worst
    assert worst <= 1e-6  # the reference prints 6 significant digits
    rows = sum(len(read_rows(labels / f"{s}.txt")) for s in stems)
    points = sum(len(p) // 2 for s in stems for _, p in read_rows(labels / f"{s}.txt"))
    assert (rows, points) == (929, 22614)  # data/PROVENANCE.md: 929 lines, 22,614 points


def _yolo_seg_dataset(root: Path) -> Path:
    """coco128 images (linked) with the reference YOLO-seg labels."""
    images, labels = root / "images" / "train", root / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for img in shared_path("data", "coco128", "images", "train2017").glob("*.jpg"):
        os.symlink(img, images / img.name)
    for label in shared_path("reference", "coco128-seg-labels").glob("*.txt"):
        (labels / label.name).write_text(label.read_text())
    names = yaml.safe_load(shared_path("data", "coco128", "coco128.yaml").read_text())["names"]
    spec = {"path": str(root), "train": "images/train", "val": "images/train", "names": names}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


def test_yolo_seg_coco_yolo_seg_round_trip(tmp_path) -> None:
    data = _yolo_seg_dataset(tmp_path / "seg")
    ds = load_dataset(data, "val")
    assert ds.has_segments and len(ds.seg_offsets) == 929 + 1
    assert ds.report.by_kind() == {"image.no_label": 2}
    assert main(["convert", f"data={data}", "to=coco", f"out={tmp_path / 'coco'}"]) == 0
    gt = json.loads((tmp_path / "coco" / "annotations" / "instances_val.json").read_text())
    assert all(len(a["segmentation"]) == 1 for a in gt["annotations"])
    one = gt["annotations"][0]  # COCO convention: area is the polygon's
    assert one["area"] == pytest.approx(polygon_area(np.reshape(one["segmentation"][0], (-1, 2))))
    coco_yaml = tmp_path / "coco" / "data.yaml"
    assert main(["convert", f"data={coco_yaml}", "to=yolo", f"out={tmp_path / 'back'}"]) == 0
    stems = sorted(p.stem for p in shared_path("reference", "coco128-seg-labels").glob("*.txt"))
    worst = compare_label_folders(tmp_path / "back" / "labels" / "val",
                                  tmp_path / "seg" / "labels" / "train", stems)  # fmt: skip
    FIGURES["yolo-seg -> coco -> yolo-seg, max |diff|"] = worst
    assert worst <= 1e-6


def test_scan_cache_keeps_polygons(tmp_path) -> None:
    data = _yolo_seg_dataset(tmp_path / "seg")
    first = load_dataset(data, "val")
    second = load_dataset(data, "val")
    assert second.report.from_cache and not first.report.from_cache
    assert np.array_equal(second.seg_points, first.seg_points)
    assert np.array_equal(second.seg_offsets, first.seg_offsets)
    assert np.array_equal(second.areas, first.areas)


BAD_ROWS = [
    "0 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4",  # 1 good square
    "1 0.5 0.5 0.9 0.5 0.9",  # 2 odd number of coordinates -> dropped
    "1 0.5 0.5",  # 3 one point -> dropped
    "1 0.5 0.5 0.6 0.6 0.5 0.5",  # 4 two distinct points -> dropped
    "1 0.1 0.1 0.5 0.5 0.9 0.9",  # 5 collinear: zero area -> dropped
    "2 0.6 0.6 1.01 0.6 1.01 0.9 0.6 0.9",  # 6 just outside: clipped to x = 1, kept
    "2 0.6 0.6 1.5 0.6 1.5 0.9",  # 7 far outside -> dropped
    "0 0.5 0.2 0.2 0.2",  # 8 a box row in a segmentation dataset: kept, rectangle mask
    "2 0.7 0.1 0.9 0.1 0.8 0.3",  # 9 good triangle
]


def _bad_seg_dataset(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "a.png"), np.full((50, 100, 3), 90, np.uint8))
    (root / "labels" / "a.txt").write_text("\n".join(BAD_ROWS) + "\n")
    cv2.imwrite(str(root / "images" / "b.png"), np.full((50, 100, 3), 90, np.uint8))
    (root / "labels" / "b.txt").write_text("0 0.2 0.5 0.1 0.2\n")  # box-only file
    (root / "d.yaml").write_text("train: images\nval: images\nnames: [a, b, c]\n")
    return root / "d.yaml"


def test_seg_label_problems_by_file_and_line(tmp_path) -> None:
    (report,) = check_dataset(_bad_seg_dataset(tmp_path / "bad"))[:1]
    found = {(p.kind, f"{Path(p.file).name}:{p.line}") for p in report.problems}
    expected = {("seg.odd_coordinates", "a.txt:2"), ("seg.too_few_points", "a.txt:3"),
                ("seg.too_few_points", "a.txt:4"), ("seg.zero_area", "a.txt:5"),
                ("label.clipped", "a.txt:6"), ("label.out_of_bounds", "a.txt:7"),
                ("seg.box_only", "a.txt:8"), ("seg.box_only", "b.txt:1")}  # fmt: skip
    assert found == expected
    assert {p.kind for p in report.problems} <= set(KINDS)
    text = report.details()
    assert (
        "a.txt:2: polygon with an odd number of coordinates (5 coordinates) -> row dropped" in text
    )
    assert "a.txt:8: box without a polygon in a segmentation dataset -> row kept" in text


def test_good_seg_rows_are_kept(tmp_path) -> None:
    ds = load_dataset(_bad_seg_dataset(tmp_path / "bad"), "train")
    t = ds.targets([Path(f).stem for f in ds.files].index("a"))
    assert t.labels.tolist() == [0, 2, 0, 2]  # lines 1, 6, 8, 9
    w, h = 100, 50
    np.testing.assert_allclose(t.segments[0], [[10, 5], [40, 5], [40, 20], [10, 20]], atol=1e-4)
    np.testing.assert_allclose(t.segments[1][:, 0].max(), w)  # clipped at the border
    np.testing.assert_allclose(t.boxes[1], [60, 30, 100, 45], atol=1e-4)
    np.testing.assert_allclose(t.segments[2], [[40, 5], [60, 5], [60, 15], [40, 15]], atol=1e-4)
    for poly, box in zip(t.segments, t.boxes, strict=True):  # box = the polygon's extent
        np.testing.assert_allclose(box, [*poly.min(0), *poly.max(0)], atol=1e-4)
    assert ds.areas[ds.offsets[0]] == pytest.approx(30 * 15)  # polygon area, as COCO
    assert h == 50


def test_coco_segmentation_polygons_rle_and_crowd(tmp_path) -> None:
    cv2.imwrite(str(tmp_path / "im.png"), np.zeros((40, 60, 3), np.uint8))
    from faster_coco_eval.core import mask as mask_utils

    m = np.zeros((40, 60), np.uint8, order="F")
    m[10:20, 30:50] = 1
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode()
    anns = [
        {"id": 1, "bbox": [0, 0, 20, 10], "segmentation": [[0, 0, 20, 0, 20, 10, 0, 10]]},
        {"id": 2, "bbox": [30, 10, 20, 10], "segmentation": rle},  # non-crowd RLE: outlined
        {"id": 3, "bbox": [0, 20, 60, 20], "segmentation": rle, "iscrowd": 1},  # ignored
        {"id": 4, "bbox": [5, 25, 10, 10],  # two parts: merged into one polygon
         "segmentation": [[5, 25, 10, 25, 10, 30], [12, 30, 15, 30, 15, 35, 12, 35]]},
        {"id": 5, "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 2, 2, 3]]},  # odd -> box mask
    ]  # fmt: skip
    for a in anns:
        a.update(image_id=7, category_id=3, area=1.0, iscrowd=a.get("iscrowd", 0))
    gt = {"images": [{"id": 7, "file_name": "im.png", "width": 60, "height": 40}],
          "annotations": anns, "categories": [{"id": 3, "name": "thing"}]}  # fmt: skip
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    ds = load_dataset(tmp_path / "gt.json")
    t = ds.targets(0)
    assert ds.has_segments and t.crowd.tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(t.segments[0], [[0, 0], [20, 0], [20, 10], [0, 10]])
    assert [*t.segments[1].min(0), *t.segments[1].max(0)] == [30, 10, 49, 19]  # pixel outline
    assert len(t.segments[2]) == 0  # crowd: no polygon
    parts = [np.array([[5, 25], [10, 25], [10, 30]]), np.array([[12, 30], [15, 30], [15, 35],
                                                                [12, 35]])]  # fmt: skip
    np.testing.assert_allclose(t.segments[3], merge_segments(parts))
    np.testing.assert_allclose(t.segments[4], [[1, 1], [6, 1], [6, 6], [1, 6]])
    kinds = [(p.kind, p.detail) for p in ds.report.problems]
    assert ("seg.odd_coordinates", "annotation 5 part 0: 5 coordinates") in kinds
    assert ("seg.box_only", "annotation 5") in kinds


def test_merge_segments_walks_every_part() -> None:
    a = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    b = a + np.array([10, 0])
    merged = merge_segments([a, b])
    # a from its closest vertex to b, closed; then b from its closest vertex to a, closed
    assert merged.tolist() == [[4, 0], [4, 4], [0, 4], [0, 0], [4, 0],
                               [10, 0], [14, 0], [14, 4], [10, 4], [10, 0]]  # fmt: skip


def test_clip_polygon_to_the_image() -> None:
    tri = np.array([[-10, 5], [30, 5], [10, 45]], float)
    clipped = clip_polygon(tri, 20, 20)
    assert (clipped >= 0).all() and (clipped[:, 0] <= 20).all() and (clipped[:, 1] <= 20).all()
    # the visible part: the triangle below y = 20 and inside x in [0, 20]
    mask = np.zeros((400, 400), np.uint8)
    cv2.fillPoly(mask, [np.round(tri * 10 + [100, 100]).astype(np.int32)], 1)
    visible = mask[100:300, 100:300].sum() / 100
    assert polygon_area(clipped) == pytest.approx(visible, rel=0.02)
    assert len(clip_polygon(tri + 100, 20, 20)) == 0


def test_print_figures() -> None:
    print({k: f"{v:.3g}" for k, v in FIGURES.items()})


def test_subset_keeps_each_box_with_its_polygon(tmp_path) -> None:
    ds = load_dataset(_bad_seg_dataset(tmp_path / "bad"), "train")
    order = [1, 0] if Path(ds.files[0]).stem == "a" else [0, 1]  # b first, then a
    sub = ds.subset(order)
    assert [Path(f).stem for f in sub.files] == ["b", "a"]
    for i, src in enumerate(order):
        a, b = sub.targets(i), ds.targets(src)
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.labels, b.labels)
        assert all(np.array_equal(x, y) for x, y in zip(a.segments, b.segments, strict=True))
