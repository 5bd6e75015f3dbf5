"""Classification datasets in the ImageNet folder layout, checked file by file.

    root/train/<class>/*.jpg        a folder given as data=root (upstream's layout);
    root/val/<class>/*.jpg          val falls back to test/ when there is no val/
    root/test/<class>/*.jpg         (optional)

or a yaml naming the split folders (`path`, `train`, `val`, `test`; `task: classify` or no
`names`). Class names are the class folder names, sorted, over the union of the splits, so a
class missing from one split keeps its index. The check reports, by file: unreadable images
(dropped), non-image files (ignored), images outside class folders (ignored), empty classes and
class folders present in some splits only (both kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .dataset import DatasetError
from .images import IMAGE_SUFFIXES, read_image
from .report import KINDS, CheckReport, Problem
from .scan import image_shape, parallel_map

SPLITS = ("train", "val", "test")
KINDS.update({
    "class.empty": ("class folder without a usable image", "class kept, with no samples"),
    "class.one_split": ("class folder missing from another split", "class kept (same index)"),
    "class.loose_file": ("file outside the class folders", "file ignored"),
})  # fmt: skip


@dataclass
class ClassifySpec:
    source: Path  # the folder or yaml given
    splits: dict[str, Path]  # split name -> folder (existing ones only)
    names: dict[int, str]  # sorted class folder names over all splits

    def folder(self, split: str) -> Path:
        if split == "val" and "val" not in self.splits and "test" in self.splits:
            return self.splits["test"]  # upstream: data/test if it exists, else data/val
        if split not in self.splits:
            have = ", ".join(self.splits) or "none"
            raise DatasetError(f"{self.source}: no '{split}' split folder (found: {have})")
        return self.splits[split]


class ClassifyReport(CheckReport):
    """A CheckReport whose summary speaks of images per class."""

    def summary(self) -> str:
        lines = [f"{self.split}: {self.images} images in {len(self.per_class)} classes "
                 f"({self.images_dropped} dropped)"]  # fmt: skip
        if self.per_class:
            counts = ", ".join(f"{k} {v}" for k, v in self.per_class.items())
            lines.append(f"  images per class: {counts}")
        kinds = self.by_kind()
        lines.append("  problems: " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
                                       if kinds else "none"))  # fmt: skip
        return "\n".join(lines)


@dataclass
class ClassifyDataset:
    """Images and their class indices, for one split."""

    files: list[str]
    labels: np.ndarray  # [N] int64
    names: dict[int, str]
    report: ClassifyReport = field(default_factory=ClassifyReport)
    source: str = ""
    task: str = "classify"

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def load_image(self, i: int) -> np.ndarray:
        """BGR uint8 pixels of image i."""
        return read_image(self.files[i])


def _yaml(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_classify_data(data: str | Path) -> bool:
    """Whether data names a classification dataset (a folder, or a classification yaml)."""
    path = Path(data)
    if path.is_dir():
        return True
    if path.suffix.lower() not in (".yaml", ".yml"):
        if not path.exists() and not path.suffix:
            raise DatasetError(
                f"data='{data}' not found: a classification dataset is a folder with train/ and "
                "val/ holding one folder per class (or a yaml naming them)"
            )
        return False
    spec = _yaml(path) if path.is_file() else None
    if not spec:
        return False
    if spec.get("task") == "classify":
        return True
    if "names" in spec or "nc" in spec or not isinstance(spec.get("train"), str):
        return False
    root = _root(path, spec)
    train = Path(spec["train"])
    train = train if train.is_absolute() else root / train
    return train.is_dir() and bool(_class_dirs(train))


def _root(yaml_file: Path, spec: dict) -> Path:
    root = Path(spec.get("path") or ".").expanduser()
    return root if root.is_absolute() else (yaml_file.parent / root).resolve()


def read_classify_spec(data: str | Path) -> ClassifySpec:
    """The split folders and the class names of a classification dataset."""
    path = Path(data)
    if path.is_dir():
        splits = {s: path / s for s in SPLITS if (path / s).is_dir()}
        if not splits:
            raise DatasetError(
                f"'{path}' has no train/, val/ or test/ folder (ImageNet layout: "
                f"{path}/train/<class>/*.jpg, {path}/val/<class>/*.jpg)"
            )
        given = None
    else:
        spec = _yaml(path)
        if spec is None:
            raise DatasetError(f"dataset file '{path}' is not a readable yaml mapping")
        root = _root(path, spec)
        splits = {}
        for s in SPLITS:
            if spec.get(s):
                folder = Path(str(spec[s]))
                folder = folder if folder.is_absolute() else root / folder
                if not folder.is_dir():
                    raise DatasetError(f"{path}: the {s} folder '{folder}' does not exist")
                splits[s] = folder
        given = spec.get("names")
    names = sorted({d.name for folder in splits.values() for d in _class_dirs(folder)})
    if not names:
        raise DatasetError(f"'{data}': no class folders in {', '.join(map(str, splits.values()))}")
    if given is not None:
        listed = list(given.values()) if isinstance(given, dict) else list(given)
        if [str(n) for n in listed] != names:
            raise DatasetError(
                f"{path}: 'names' must be the class folder names, sorted ({', '.join(names)})"
            )
    return ClassifySpec(path, splits, dict(enumerate(names)))


def _list_split(folder: Path, names: dict[int, str]) -> tuple[list[tuple[str, int]], list]:
    """(image file, class index) of a split folder, and the files that cannot be used."""
    index = {n: i for i, n in names.items()}
    items: list[tuple[str, int]] = []
    problems: list[Problem] = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            problems.append(Problem(str(p), "class.loose_file", f"not inside {folder}/<class>/"))
    for d in _class_dirs(folder):
        for f in sorted(x for x in d.rglob("*") if x.is_file() and not x.name.startswith(".")):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                items.append((str(f), index[d.name]))
            else:
                problems.append(Problem(str(f), "image.unsupported", f.suffix or "no suffix"))
    return items, problems


def load_classify(data: str | Path, split: str = "val", workers: int | None = None):
    """One split of a classification dataset, checked (problems in `.report`)."""
    spec = read_classify_spec(data)
    folder = spec.folder(split)
    items, problems = _list_split(folder, spec.names)
    checked = parallel_map(lambda it: image_shape(it[0]), items, workers)
    files, labels = [], []
    dropped = 0
    for (file, label), (shape, found) in zip(items, checked, strict=True):
        if shape is None and found and found[-1].kind == "image.too_small":
            shape, found = (0, 0), found[:-1]  # small crops are fine: they are resized anyway
        problems.extend(found)
        if shape is None:
            dropped += 1
        else:
            files.append(file)
            labels.append(label)
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(spec.names))
    for i, name in spec.names.items():
        here = folder / name
        if not here.is_dir():
            others = [s for s, f in spec.splits.items() if (f / name).is_dir()]
            problems.append(Problem(str(here), "class.one_split", f"only in {', '.join(others)}"))
        elif counts[i] == 0:
            problems.append(Problem(str(here), "class.empty"))
    per_class = {spec.names[i]: int(n) for i, n in enumerate(counts)}
    report = ClassifyReport(split=split, images=len(files), images_dropped=dropped,
                            instances=len(files), problems=problems,
                            per_class=per_class)  # fmt: skip
    return ClassifyDataset(files, np.asarray(labels, np.int64), dict(spec.names), report, str(data))


def check_classify(data: str | Path, workers: int | None = None) -> list[ClassifyReport]:
    """Reports for every split folder of a classification dataset."""
    spec = read_classify_spec(data)
    return [load_classify(data, s, workers).report for s in spec.splits]
