"""Dataset yaml (Ultralytics layout) and the image lists of its splits.

    path: ../datasets/coco128   # root; a relative path resolves against this yaml's folder
    train: images/train2017     # a folder, a .txt list of images, a glob, or a list of these;
    val: images/val2017         # or a COCO instances .json (images found next to it)
    test:                       # optional
    names: {0: person, 1: bicycle}   # or a list

Other keys (download, coco_json, ...) are kept in `extra` and ignored; nothing is executed.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import read_yaml
from .dataset import DatasetError
from .images import IMAGE_SUFFIXES
from .report import Problem

SPLITS = ("train", "val", "test")


@dataclass
class DataSpec:
    yaml_file: Path
    root: Path
    splits: dict[str, list[Path]]
    names: dict[int, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def entries(self, split: str) -> list[Path]:
        if not self.splits.get(split):
            have = ", ".join(s for s in SPLITS if self.splits.get(s)) or "none"
            raise DatasetError(f"{self.yaml_file}: no '{split}' split (splits given: {have})")
        return self.splits[split]


def read_data_yaml(path: str | Path) -> DataSpec:
    path = Path(path)
    data = read_yaml(path, "dataset file", DatasetError)
    if not data:
        raise DatasetError(f"{path}: expected a mapping with path/train/val/names")
    root = Path(data.get("path") or ".").expanduser()
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    splits = {}
    for split in SPLITS:
        value = data.get(split)
        items = value if isinstance(value, list) else [value] if value else []
        splits[split] = [p if p.is_absolute() else root / p for p in map(Path, map(str, items))]
    names = _names(data, path)
    extra = {k: v for k, v in data.items() if k not in {"path", "names", "nc", *SPLITS}}
    return DataSpec(path, root, splits, names, extra)


def _names(data: dict, path: Path) -> dict[int, str]:
    raw = data.get("names")
    nc = data.get("nc")
    if raw is None:
        if nc is None:
            raise DatasetError(f"{path}: give the class names ('names:' as a list or a mapping)")
        return {i: f"class{i}" for i in range(int(nc))}
    if isinstance(raw, list):
        names = dict(enumerate(map(str, raw)))
    elif isinstance(raw, dict):
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: 'names' keys must be class indices 0..n-1") from None
    else:
        raise DatasetError(f"{path}: 'names' must be a list or a mapping")
    if sorted(names) != list(range(len(names))):
        raise DatasetError(f"{path}: 'names' must cover the indices 0..{len(names) - 1} exactly")
    if nc is not None and int(nc) != len(names):
        raise DatasetError(f"{path}: nc={nc} but {len(names)} names are given")
    return names


def list_images(entries: list[Path], where: str) -> tuple[list[str], list[Problem]]:
    """Image files of a split's entries (folders, .txt lists, globs); unusable files reported."""
    images: list[str] = []
    problems: list[Problem] = []
    for entry in entries:
        text = str(entry)
        if any(ch in text for ch in "*?["):
            files = [Path(p) for p in glob.glob(text, recursive=True)]
        elif entry.is_dir():
            files = [p for p in entry.rglob("*") if p.is_file() and not p.name.startswith(".")]
        elif entry.is_file() and entry.suffix == ".txt":
            files = _read_list(entry)
        else:
            raise DatasetError(f"{where}: '{entry}' not found (a folder, a .txt list or a glob)")
        for f in sorted(files):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                images.append(str(f))
            elif entry.is_file() or f.suffix.lower() != ".txt":
                problems.append(Problem(str(f), "image.unsupported", f.suffix or "no suffix"))
    return images, problems


def _read_list(listing: Path) -> list[Path]:
    out = []
    for line in listing.read_text().splitlines():
        line = line.strip()
        if line:
            p = Path(line)
            out.append(p if p.is_absolute() else (listing.parent / p).resolve())
    return out
