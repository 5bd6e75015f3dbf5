"""Shared test helpers: location of ../shared assets and a process-wide model cache."""

from __future__ import annotations

import functools
import importlib
import json
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOARENA_SHARED", REPO.parent / "shared")).resolve()
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

torch.set_num_threads(min(torch.get_num_threads(), 2))
# scan caches go to a temporary folder, never next to the shared labels
os.environ["YOLOARENA_CACHE_DIR"] = tempfile.mkdtemp(prefix="yoloarena-cache-")


def missing(msg: str) -> NoReturn:
    """A test that cannot run without something: it fails in CI (where everything must be
    present) and skips elsewhere."""
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: every shared asset and extra must be present)")
    pytest.skip(msg, allow_module_level=True)


def shared_path(*parts: str) -> Path:
    """A file under the shared folder; skips outside CI when missing, fails in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        missing(f"shared asset {path} not found (set YOLOARENA_SHARED to the shared folder)")
    return path


def require(module: str, why: str = "") -> ModuleType:
    """Import an optional package; skips outside CI when it is missing, fails in CI.

    Use it instead of pytest.importorskip, which would skip in CI too."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing(f"{module} is not installed{f' ({why})' if why else ''}: {e}")


@functools.cache
def shared_json(*parts: str) -> dict:
    return json.loads(shared_path(*parts).read_text())


@functools.cache
def _official_yolov5n():
    import yoloarena

    return yoloarena.load(shared_path("data", "weights", "yolov5n.pt"))


@pytest.fixture
def yolov5n_official():
    """The official yolov5n.pt (unfused, eval); loaded once per process, never mutate it."""
    return _official_yolov5n()


@functools.cache
def _official_yolov5n_fused():
    import yoloarena

    return yoloarena.load(shared_path("data", "weights", "yolov5n.pt")).deploy()


@pytest.fixture
def yolov5n_fused():
    """The official yolov5n.pt after deploy() (Conv+BN fused); loaded once per process."""
    return _official_yolov5n_fused()


@functools.cache
def _coco128(split_source: str):
    from yoloarena.data.load import load_dataset

    if split_source == "yolo":
        return load_dataset(shared_path("data", "coco128", "coco128.yaml"), "val")
    json_file = shared_path("data", "coco128", "annotations", "instances_train2017_from_yolo.json")
    return load_dataset(json_file)


@pytest.fixture
def coco128_yolo():
    """coco128 read from the YOLO labels (loaded once per process)."""
    return _coco128("yolo")


@pytest.fixture
def coco128_json():
    """coco128 read from the COCO json converted from the YOLO labels (loaded once)."""
    return _coco128("json")


@functools.cache
def _official_val():
    from yoloarena.engine.validator import validate

    return validate(_official_yolov5n_fused(), _coco128("yolo"), imgsz=640, batch=32)


@pytest.fixture
def yolov5n_coco128_val():
    """ValResult of the official yolov5n.pt on coco128 at 640 (computed once per process)."""
    return _official_val()
