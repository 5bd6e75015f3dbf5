"""Issue 12: malformed COCO json (ids, missing fields, wrong types, int64 overflow) gets one
clear message naming the json file and the entry; good annotations are kept."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from conftest import shared_path

from yoloarena.cli import main
from yoloarena.data.dataset import DatasetError
from yoloarena.data.load import load_dataset

GOOD = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 1280, "height": 720},
               {"id": 2, "file_name": "b.jpg", "width": 1280, "height": 720}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 200], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 3, "bbox": [5, 5, 20, 20]},
    ],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "tie"}],
}  # fmt: skip


@pytest.fixture
def folder(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(shared_path("data", "images", "zidane.jpg"), tmp_path / name)
    return tmp_path


def _edit(change) -> dict:
    data = copy.deepcopy(GOOD)
    change(data)
    return data


def _set(key: str, i: int, field: str, value):
    return lambda d: d[key][i].__setitem__(field, value)


def _drop(key: str, i: int, field: str):
    return lambda d: d[key][i].pop(field)


ERRORS = [  # (change, the message after "<json>: ")
    (lambda d: d.__setitem__("images", {"id": 1}), "'images' must be a list, not dict"),
    (lambda d: d["images"].__setitem__(0, "a.jpg"), "images[0] must be an object, not 'a.jpg'"),
    (_drop("images", 1, "file_name"), "images[1] has no 'file_name'; every image needs an 'id'"),
    (_drop("images", 1, "id"), "images[1] has no 'id'"),
    (_set("images", 1, "id", "7a"), "images[1] ('b.jpg'): id '7a' is not an integer"),
    (_set("images", 1, "id", 2.5), "images[1] ('b.jpg'): id 2.5 is not an integer"),
    (_set("images", 1, "id", True), "images[1] ('b.jpg'): id True is not an integer"),
    (_set("images", 1, "id", 2**63), f"images[1] ('b.jpg'): id {2**63} is beyond the int64"),
    (_set("images", 1, "file_name", None), "images[1] (id 2): 'file_name' must be a non-empty"),
    (_drop("categories", 1, "name"), "categories[1] has no 'name'; every category needs"),
    (_set("categories", 1, "id", "3"), "categories[1] ('tie'): id '3' is not an integer"),
    (_set("categories", 1, "id", -(2**63) - 1), "categories[1] ('tie'): id -9223372036854775809 "
                                                "is beyond the int64 range"),
    (_set("categories", 1, "id", 1), "categories[1] ('tie') repeats id 1 of categories[0] "
                                     "('person'); give every category its own id"),
    (_set("categories", 0, "name", ""), "categories[0] (id 1): 'name' must be a non-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), ERRORS)
def test_malformed_json_is_one_clear_error(folder, capsys, change, message) -> None:
    path = folder / "bad.json"
    text = json.dumps(_edit(change))
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        load_dataset(path, "train")  # what train and val do
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)
    assert main(["check", f"data={path}", f"project={folder}", "name=c"]) == 1
    out = capsys.readouterr().err.strip()
    assert out == f"yoloarena check: error: {err.value}"  # one line, no traceback
    assert path.read_text() == text  # the user's file is untouched


def test_unparsable_numbers_are_invalid_json(folder, capsys) -> None:
    path = folder / "huge.json"
    path.write_text(json.dumps(GOOD).replace('"id": 1,', '"id": ' + "9" * 5000 + ",", 1))
    assert main(["check", f"data={path}", f"project={folder}", "name=c"]) == 1
    assert capsys.readouterr().err.startswith(f"yoloarena check: error: {path}: not valid json")


LIST4 = "is not a list of 4 finite numbers [x, y, width, height]"
BAD_ANNOTATIONS = [
    ({"bbox": "10 10 20 20"}, f"bbox '10 10 20 20' {LIST4}"),
    ({"bbox": [1, 2, 3]}, f"bbox [1, 2, 3] {LIST4}"),
    ({"bbox": [1, 2, "3", 4]}, f"bbox [1, 2, '3', 4] {LIST4}"),
    ({"bbox": [1, 2, True, 4]}, f"bbox [1, 2, True, 4] {LIST4}"),
    ({"bbox": None}, "no 'bbox'"),
    ({"image_id": "1"}, "image_id '1' is not an integer"),
    ({"image_id": 2**64}, "image_id 18446744073709551616 is beyond the int64 range"),
    ({"category_id": None}, "category_id None is not an integer"),
    ({"area": "big"}, "area 'big' is not a number"),
    ({"iscrowd": 2}, "iscrowd 2 is not 0 or 1"),
]


@pytest.mark.parametrize(("fields", "why"), BAD_ANNOTATIONS)
def test_bad_annotation_is_dropped_and_the_rest_kept(folder, capsys, fields, why) -> None:
    data = copy.deepcopy(GOOD)
    data["annotations"].append({"id": 9, "image_id": 1, "category_id": 1,
                                "bbox": [50, 50, 10, 10], **fields})  # fmt: skip
    path = folder / "ann.json"
    path.write_text(json.dumps(data))
    ds = load_dataset(path, "train")
    assert ds.report.instances == 2 and len(ds) == 2  # the two good boxes
    [problem] = [p for p in ds.report.problems if p.kind == "coco.bad_annotation"]
    assert str(problem) == (f"{path}: annotation with a missing or mistyped field "
                            f"(annotations[2] (id 9): {why}) -> annotation dropped")  # fmt: skip
    assert main(["check", f"data={path}", f"project={folder}", "name=c"]) == 0
    assert f"annotations[2] (id 9): {why}" in capsys.readouterr().err


def test_one_image_id_for_two_files_drops_both(folder) -> None:
    data = copy.deepcopy(GOOD)
    data["images"].append({"id": 2, "file_name": "a.jpg", "width": 1280, "height": 720})
    path = folder / "dup.json"
    path.write_text(json.dumps(data))
    ds = load_dataset(path, "train")
    assert ds.files == [str(folder / "a.jpg")] and ds.image_ids.tolist() == [1]
    assert ds.report.instances == 1  # image 2's box could be on either file: dropped
    [p] = [p for p in ds.report.problems if p.kind == "coco.conflicting_image_id"]
    assert p.detail == "images[2] ('a.jpg') has the id 2 of images[1] ('b.jpg')"
