"""Helpers shared by the benchmark scripts (run as `python benchmarks/<script>.py`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared assets: YOLOARENA_SHARED, else ../shared next to the repository."""
    return Path(os.environ.get("YOLOARENA_SHARED") or REPO.parent / "shared").resolve()


def stage_coco128(tmp: Path) -> Path:
    """A writable copy of coco128 (images and labels of every split, no caches) under tmp, with
    a data yaml holding its absolute path; the shared folder is never written to."""
    src = shared_dir() / "data" / "coco128"
    if not (src / "coco128.yaml").is_file():
        raise SystemExit(f"coco128 not found under {src} (set YOLOARENA_SHARED)")
    spec = yaml.safe_load((src / "coco128.yaml").read_text())
    dst = tmp / "coco128"
    for folder in ("images", "labels"):
        for split in sorted(p for p in (src / folder).iterdir() if p.is_dir()):
            shutil.copytree(split, dst / folder / split.name, copy_function=shutil.copyfile)
    for folder in dst.rglob("*"):  # writable (the official label cache goes next to labels)
        if folder.is_dir():
            folder.chmod(0o755)
    data = {"path": str(dst), "train": spec["train"], "val": spec["val"], "names": spec["names"]}
    (dst / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return dst / "data.yaml"
