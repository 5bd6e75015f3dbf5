"""Issue 16, must-show 6: classification datasets (ImageNet folder layout, or a yaml naming the
folders): class names from the sorted folder names; a corrupt image, an empty class, a class
folder missing from a split, non-image files each get a message naming the path; good images are
kept. Plus the synthetic shape-crop generator."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from yoloarena.cli import main
from yoloarena.data.classify import (
    check_classify,
    is_classify_data,
    load_classify,
    read_classify_spec,
)
from yoloarena.data.dataset import DatasetError
from yoloarena.data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic


def _image(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def make_good(root: Path, classes=("cat", "dog", "zebra"), n: int = 3) -> list[Path]:
    files = []
    for split in ("train", "val"):
        for k, c in enumerate(classes):
            for i in range(n):
                files.append(_image(root / split / c / f"{i}.jpg", 100 * k + i))
    return files


def test_folder_layout_names_sorted_and_labels(tmp_path) -> None:
    make_good(tmp_path, classes=("zebra", "ant", "cat"))
    assert is_classify_data(tmp_path)
    spec = read_classify_spec(tmp_path)
    assert spec.names == {0: "ant", 1: "cat", 2: "zebra"}
    ds = load_classify(tmp_path, "train")
    assert len(ds) == 9 and ds.num_classes == 3 and not ds.report.problems
    for f, label in zip(ds.files, ds.labels.tolist(), strict=True):
        assert Path(f).parent.name == ds.names[label]
    assert ds.load_image(0).shape == (40, 48, 3)


def test_yaml_naming_the_folders(tmp_path) -> None:
    make_good(tmp_path / "data")
    (tmp_path / "data" / "val").rename(tmp_path / "data" / "test")  # val falls back to test/
    spec = {"path": "data", "train": "train", "test": "test"}
    (tmp_path / "cls.yaml").write_text(yaml.safe_dump(spec))
    assert is_classify_data(tmp_path / "cls.yaml")
    assert len(load_classify(tmp_path / "cls.yaml", "val")) == 9
    explicit = {**spec, "task": "classify", "names": ["cat", "dog", "zebra"]}
    (tmp_path / "named.yaml").write_text(yaml.safe_dump(explicit))
    assert load_classify(tmp_path / "named.yaml", "train").names == {0: "cat", 1: "dog", 2: "zebra"}
    wrong = {**explicit, "names": ["dog", "cat", "zebra"]}
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(wrong))
    with pytest.raises(DatasetError, match="sorted"):
        load_classify(tmp_path / "wrong.yaml", "train")


def test_detection_yaml_is_not_classification(tmp_path) -> None:
    det = {"path": ".", "train": "images", "val": "images", "names": ["a"]}
    (tmp_path / "images").mkdir()
    (tmp_path / "det.yaml").write_text(yaml.safe_dump(det))
    assert not is_classify_data(tmp_path / "det.yaml")
    with pytest.raises(DatasetError, match="not found"):
        is_classify_data(tmp_path / "missing-cls")


def make_bad(root: Path) -> dict[str, Path]:
    make_good(root)
    corrupt = root / "train" / "cat" / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    empty_class = root / "train" / "emu"
    empty_class.mkdir()
    (root / "val" / "emu").mkdir()
    only_train = root / "train" / "fox"
    _image(only_train / "0.jpg", 7)
    note = root / "train" / "dog" / "notes.txt"
    note.write_text("not an image")
    loose = _image(root / "val" / "stray.jpg", 8)
    return {"corrupt": corrupt, "empty": empty_class, "only_train": only_train,
            "missing": root / "val" / "fox", "note": note, "loose": loose}  # fmt: skip


def test_bad_input_is_reported_by_path_and_good_images_kept(tmp_path) -> None:
    bad = make_bad(tmp_path)
    train = load_classify(tmp_path, "train")
    val = load_classify(tmp_path, "val")
    assert train.names == {0: "cat", 1: "dog", 2: "emu", 3: "fox", 4: "zebra"}  # union of splits
    assert len(train) == 3 * 3 + 1 and len(val) == 9  # every good image kept
    assert str(bad["corrupt"]) not in train.files
    text = "\n".join(map(str, train.report.problems))
    assert f"{bad['corrupt']}: image cannot be decoded" in text
    assert f"{bad['empty']}: class folder without a usable image" in text
    assert f"{bad['note']}: not an image format" in text
    val_text = "\n".join(map(str, val.report.problems))
    assert f"{bad['missing']}: class folder missing from another split (only in train)" in val_text
    assert f"{bad['loose']}: file outside the class folders" in val_text
    assert train.report.per_class == {"cat": 3, "dog": 3, "emu": 0, "fox": 1, "zebra": 3}


def test_check_command_reports_every_split(tmp_path, capsys) -> None:
    bad = make_bad(tmp_path / "data")
    reports = check_classify(tmp_path / "data")
    assert [r.split for r in reports] == ["train", "val"]
    code = main(["check", f"data={tmp_path / 'data'}", f"project={tmp_path / 'runs'}"])
    err = capsys.readouterr().err
    assert code == 0
    assert "train: 10 images in 5 classes (1 dropped)" in err
    for key in ("corrupt", "empty", "missing", "note", "loose"):
        assert str(bad[key]) in err, key
    assert list((tmp_path / "runs").rglob("report.json"))


def test_synthetic_classification_set(tmp_path) -> None:
    spec = ClassifySynthSpec(n_train=3, n_val=2, imgsz=48, classes=3, seed=1)
    out = make_classify_synthetic(tmp_path / "a", spec)
    again = make_classify_synthetic(tmp_path / "b", spec)
    files = sorted(p.relative_to(out) for p in out.rglob("*.jpg"))
    assert len(files) == 3 * 5 and files == sorted(
        p.relative_to(again) for p in again.rglob("*.jpg")
    )
    assert all((out / f).read_bytes() == (again / f).read_bytes() for f in files)  # deterministic
    assert load_classify(out, "train").names == {0: "circle", 1: "square", 2: "triangle"}
