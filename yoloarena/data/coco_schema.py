"""Checking the structure of a COCO instances json before it is used.

Problems that make the file ambiguous (entries that are not objects, missing or non-integer ids,
ids beyond int64, two categories with one id, missing file names or category names) stop with a
DatasetError naming the json file and the entry. An annotation with a missing or wrongly typed
field is dropped with a `coco.bad_annotation` problem, as a bad label row would be.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .dataset import DatasetError
from .report import Problem

INT64 = (-(2**63), 2**63 - 1)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def id_problem(value: Any) -> str | None:
    """Why value is not a usable id (a JSON integer within int64), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{_show(value)} is not an integer"
    if not INT64[0] <= value <= INT64[1]:
        return f"{_show(value)} is beyond the int64 range"
    return None


def check_structure(data: Any, path: Path) -> None:
    """DatasetError naming path and the entry when the json cannot be read unambiguously."""
    error = DatasetError
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise error(f"{path}: a COCO instances file needs images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data[key], list):
            raise error(f"{path}: '{key}' must be a list, not {type(data[key]).__name__}")
        for i, entry in enumerate(data[key]):
            if not isinstance(entry, dict):
                raise error(f"{path}: {key}[{i}] must be an object, not {_show(entry)}")
    _check_entries(data["images"], "images", "file_name", path)
    _check_entries(data["categories"], "categories", "name", path)
    first: dict[int, int] = {}
    for i, cat in enumerate(data["categories"]):
        j = first.setdefault(cat["id"], i)
        if j != i:
            other = data["categories"][j]["name"]
            raise error(
                f"{path}: categories[{i}] ('{cat['name']}') repeats id {cat['id']} of "
                f"categories[{j}] ('{other}'); give every category its own id (boxes of one id "
                "cannot belong to two classes)"
            )


def _check_entries(entries: list, key: str, text_field: str, path: Path) -> None:
    error = DatasetError
    what = "image" if key == "images" else "category"
    for i, entry in enumerate(entries):
        where = f"{path}: {key}[{i}]"
        for field in ("id", text_field):
            if field not in entry:
                raise error(f"{where} has no '{field}'; every {what} needs an 'id' and a "
                            f"'{text_field}'")  # fmt: skip
        if why := id_problem(entry["id"]):
            raise error(f"{where} ('{entry[text_field]}'): id {why}; ids must be integers")
        if not isinstance(entry[text_field], str) or not entry[text_field]:
            raise error(f"{where} (id {entry['id']}): '{text_field}' must be a non-empty string, "
                        f"not {_show(entry[text_field])}")  # fmt: skip


def annotation_problem(ann: dict, index: int, path: Path) -> Problem | None:
    """A coco.bad_annotation problem when a field the reader uses is missing or mistyped."""
    why = None
    for field in ("image_id", "category_id"):
        if field not in ann:
            why = f"no '{field}'"
        elif reason := id_problem(ann[field]):
            why = f"{field} {reason}"
        if why:
            break
    if why is None:
        why = _bbox_problem(ann.get("bbox"))
    if why is None and ann.get("area") is not None and not _is_number(ann["area"]):
        why = f"area {_show(ann['area'])} is not a number"
    if why is None and ann.get("iscrowd", 0) not in (0, 1):
        why = f"iscrowd {_show(ann['iscrowd'])} is not 0 or 1"
    if why is None:
        return None
    ident = f" (id {_show(ann['id'])})" if "id" in ann else ""
    return Problem(str(path), "coco.bad_annotation", f"annotations[{index}]{ident}: {why}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _bbox_problem(bbox: Any) -> str | None:
    if bbox is None:
        return "no 'bbox'"
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(_is_number, bbox)):
        return f"bbox {_show(bbox)} is not a list of 4 finite numbers [x, y, width, height]"
    return None
