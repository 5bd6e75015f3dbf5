"""hubconf.py: torch.hub.load from a local checkout, random and pretrained/custom weights."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO, shared_path

from yoloarena.errors import WeightsError


def test_hub_random_model() -> None:
    model = torch.hub.load(str(REPO), "yolov5s", source="local", pretrained=False, classes=3)
    assert model.model_name == "yolov5s" and model.num_classes == 3 and not model.training


def test_hub_custom_weights_predict() -> None:
    weights = shared_path("data", "weights", "yolov5n.pt")
    model = torch.hub.load(str(REPO), "custom", path=str(weights), source="local")
    results = model(str(shared_path("data", "images", "zidane.jpg")))
    assert results[0].summary() == "2 persons, 1 tie"


def test_hub_pretrained_from_local_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match=r"needs the official weights file yolov5n\.pt"):
        torch.hub.load(str(REPO), "yolov5n", source="local")
    monkeypatch.setenv("YOLOARENA_WEIGHTS", str(shared_path("data", "weights")))
    model = torch.hub.load(str(REPO), "yolov5n", source="local")
    assert model.weights_info["path"].endswith("yolov5n.pt")


def test_hub_damoyolo(tmp_path, monkeypatch) -> None:
    model = torch.hub.load(str(REPO), "damoyolo_ns", source="local", pretrained=False)
    assert model.model_name == "damoyolo-ns" and model.family == "damoyolo"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match=r"damoyolo_nano_small\.pth"):
        torch.hub.load(str(REPO), "damoyolo_ns", source="local")
    torch.save({"model": model.state_dict()}, tmp_path / "damoyolo_nano_small.pth")
    loaded = torch.hub.load(str(REPO), "damoyolo_ns", source="local")
    assert loaded.weights_info["path"].endswith("damoyolo_nano_small.pth")
