"""Shared test helpers: location of ../shared assets and a process-wide model cache."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOARENA_SHARED", REPO.parent / "shared")).resolve()
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

torch.set_num_threads(min(torch.get_num_threads(), 2))


def shared_path(*parts: str) -> Path:
    """A file under the shared folder; skips outside CI when missing, fails in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        msg = f"shared asset {path} not found (set YOLOARENA_SHARED to the shared folder)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


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
