"""Issue 3, must-show 4 and 5: the dataset check, loading what is good, YOLO <-> COCO."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bad_dataset import make_bad_dataset
from conftest import shared_path

from yoloarena.cli import main
from yoloarena.data.dataset import DatasetError
from yoloarena.data.load import check_dataset, load_dataset
from yoloarena.data.report import KINDS


@pytest.fixture
def bad(tmp_path):
    return make_bad_dataset(tmp_path / "bad")


def test_check_reports_every_problem_by_file(bad) -> None:
    (report, _) = check_dataset(bad["yaml"])  # train and val are the same folder
    found = {
        (p.kind, Path(p.file).name + (f":{p.line}" if p.line else "")) for p in report.problems
    }
    for kind, where in bad["problems"].items():
        assert (kind, where) in found, (kind, where)
    assert len(bad["problems"]) >= 15
    assert {p.kind for p in report.problems} <= set(KINDS)
    text = report.details()
    assert "zero.jpg: zero-byte image file -> image dropped" in text
    assert "messy.txt:8: class id >= number of names (class 7, 3 names) -> row dropped" in text


def test_loading_keeps_exactly_the_good_images_and_boxes(bad) -> None:
    ds = load_dataset(bad["yaml"], "train")
    kept = {Path(f).stem: ds.targets(i) for i, f in enumerate(ds.files)}
    assert {k: len(t) for k, t in kept.items()} == bad["kept"]
    assert ds.report.images == 9 and ds.report.backgrounds == 2 and ds.report.instances == 10
    assert ds.report.images_dropped == 4  # zero-byte, corrupt, tiny, unreadable label
    shapes = {Path(f).stem: tuple(s) for f, s in zip(ds.files, ds.shapes.tolist(), strict=True)}
    for stem, shape in bad["shapes"].items():
        assert shapes[stem] == shape
        assert ds.load_image(
            ds.files.index(next(f for f in ds.files if Path(f).stem == stem))
        ).shape == (*shape, 3)
    messy = kept["messy"]  # the clipped box starts at x=0 and the polygon became a box
    assert messy.labels.tolist() == [0, 2, 1]
    np.testing.assert_allclose(messy.boxes[1], [0, 0.4 * 64, 0.015 * 96, 0.6 * 64], atol=1e-3)
    np.testing.assert_allclose(messy.boxes[2], [0.1 * 96, 0.1 * 64, 0.3 * 96, 0.3 * 64], atol=1e-3)
    img = ds.load_image(ds.files.index(next(f for f in ds.files if "truncated" in f)))
    assert img.shape == (80, 80, 3)


def test_scan_cache_is_reused_and_invalidated(bad, monkeypatch) -> None:
    from yoloarena.data import load as load_mod

    scanned = []
    real = load_mod.scan_yolo_image
    monkeypatch.setattr(load_mod, "scan_yolo_image", lambda *a: scanned.append(a) or real(*a))
    first = load_dataset(bad["yaml"], "train")
    assert len(scanned) == 13  # every image opened once
    second = load_dataset(bad["yaml"], "train")
    assert second.report.from_cache and not first.report.from_cache
    assert len(scanned) == 13  # the cache was hit: no image opened again
    assert second.files == first.files and np.array_equal(second.boxes, first.boxes)
    assert sorted(map(str, second.report.problems)) == sorted(map(str, first.report.problems))
    label = bad["yaml"].parent / "labels" / "train" / "good.txt"
    label.write_text("0 0.5 0.5 0.2 0.4\n")
    third = load_dataset(bad["yaml"], "train")
    assert len(scanned) == 26  # a changed label file: the split is scanned again
    assert not third.report.from_cache and third.report.instances == first.report.instances - 1


def test_yolo_coco_yolo_round_trip(tmp_path, coco128_yolo) -> None:
    data = shared_path("data", "coco128", "coco128.yaml")
    assert main(["convert", f"data={data}", "to=coco", f"out={tmp_path / 'coco'}"]) == 0
    coco_yaml = tmp_path / "coco" / "data.yaml"
    via_json = load_dataset(coco_yaml, "val")
    assert main(["convert", f"data={coco_yaml}", "to=yolo", f"out={tmp_path / 'yolo'}"]) == 0
    back = load_dataset(tmp_path / "yolo" / "data.yaml", "val")
    assert len(back) == len(via_json) == len(coco128_yolo) == 128
    src_dir = shared_path("data", "coco128", "labels", "train2017")
    worst = 0.0
    for src in sorted(src_dir.glob("*.txt")):
        a = np.loadtxt(src, ndmin=2)
        b = np.loadtxt(tmp_path / "yolo" / "labels" / "val" / src.name, ndmin=2)
        assert a.shape == b.shape and (a[:, 0] == b[:, 0]).all()
        worst = max(worst, float(np.abs(a[:, 1:] - b[:, 1:]).max()))
    assert worst <= 1e-6
    assert via_json.names == coco128_yolo.names


def test_coco_json_problems_and_split_mismatch(tmp_path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(shared_path("data", "images", "zidane.jpg"), images / name)
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "tie"}]
    gt = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 1280, "height": 720},
                   {"id": 1, "file_name": "a.jpg", "width": 1, "height": 1},  # listed twice
                   {"id": 2, "file_name": "b.jpg", "width": 640, "height": 360}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 200], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 20], "iscrowd": 1},
            {"id": 3, "image_id": 9, "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 4, "image_id": 2, "category_id": 7, "bbox": [1, 1, 2, 2]},
            {"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 1, 0, 2]},
        ],
        "categories": cats,
    }  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(gt))
    (tmp_path / "val.json").write_text(json.dumps(gt | {"categories": cats[:1]}))
    (tmp_path / "d.yaml").write_text("train: train.json\nval: val.json\ntrain_images: images\n"
                                      "val_images: images\nnames: [person, tie]\n")  # fmt: skip
    reports = check_dataset(tmp_path / "d.yaml")
    kinds = {p.kind for r in reports for p in r.problems}
    assert {"coco.duplicate_image", "coco.unknown_image", "coco.unknown_category",
            "coco.size_mismatch", "label.zero_size", "coco.class_mismatch"} <= kinds  # fmt: skip
    assert reports[0].errors and main(["check", f"data={tmp_path / 'd.yaml'}",
                                       f"project={tmp_path}"]) == 1  # fmt: skip
    ds = load_dataset(tmp_path / "train.json")
    assert ds.names == {0: "person", 1: "tie"} and ds.category_ids == [1, 3]
    assert ds.targets(0).crowd.tolist() == [False, True] and ds.report.instances == 1


def test_yaml_errors_are_clear(tmp_path) -> None:
    bad_yaml = tmp_path / "d.yaml"
    bad_yaml.write_text("train: nowhere\nval: nowhere\nnames: [a]\n")
    with pytest.raises(DatasetError, match=r"'.*nowhere' not found"):
        load_dataset(bad_yaml, "val")
    with pytest.raises(DatasetError, match="no 'test' split"):
        load_dataset(bad_yaml, "test")
    bad_yaml.write_text("val: x\nnames: {0: a, 2: b}\n")
    with pytest.raises(DatasetError, match="cover the indices"):
        load_dataset(bad_yaml, "val")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "missing.yaml")


def test_relative_path_resolves_against_the_yaml(tmp_path, bad) -> None:
    elsewhere = tmp_path / "configs"
    elsewhere.mkdir()
    (elsewhere / "d.yaml").write_text(
        "path: ../bad\nval: images/train\nnames: [cat, dog, bird]\ndownload: rm -rf /\n"
    )
    ds = load_dataset(elsewhere / "d.yaml", "val")
    assert len(ds) == 9


def test_check_cli(bad, tmp_path, capsys) -> None:
    assert main(["check", f"data={bad['yaml']}", f"project={tmp_path}", "name=c"]) == 0
    err = capsys.readouterr().err
    assert "train: 9 images (2 backgrounds, 4 dropped), 10 instances" in err
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert len(report) == 2 and report[0]["images"] == 9


def test_read_only_dataset_gets_its_cache_elsewhere(tmp_path, monkeypatch) -> None:
    data = make_bad_dataset(tmp_path / "ro")
    monkeypatch.delenv("YOLOARENA_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    labels_parent = data["yaml"].parent / "labels"
    labels_parent.chmod(0o555)
    try:
        load_dataset(data["yaml"], "train")
        assert not list(labels_parent.glob("*.npz"))
        assert list((tmp_path / "home" / ".cache" / "yoloarena").glob("train-*.yoloarena.npz"))
    finally:
        labels_parent.chmod(0o755)
    load_dataset(data["yaml"], "train")  # writable again: next to the labels
    assert (labels_parent / "train.yoloarena.npz").is_file()
