"""Issue 16: torchvision classifiers registered as baselines (random init, or a local torchvision
state dict; nothing downloaded), computing what torchvision's own modules compute."""

from __future__ import annotations

import pytest
import torch
import torchvision

import yoloarena
from yoloarena.nn.fuse import count_batchnorms
from yoloarena.registry import build_model, list_models


def test_registered_baselines() -> None:
    names = list_models("torchvision", task="classify")
    assert {"resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_small"} <= set(names)


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_b0", "mobilenet_v3_small"])
@torch.no_grad()
def test_same_outputs_as_torchvision_and_deploy(arch: str) -> None:
    torch.manual_seed(0)
    ref = getattr(torchvision.models, arch)(weights=None, num_classes=10).eval()
    model = build_model(arch, num_classes=10).eval()
    model.model.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 64)
    expected = ref(x)
    torch.testing.assert_close(model(x), expected)
    model.deploy()
    assert count_batchnorms(model) == 0
    scale = expected.abs().max().item()
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4 * scale)


def test_local_state_dict_file_loads(tmp_path) -> None:
    torch.manual_seed(1)
    ref = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18-local.pth"
    torch.save(ref.state_dict(), path)
    model = yoloarena.load(path)
    assert model.model_name == "resnet18" and model.task == "classify"
    assert model.num_classes == 1000 and model.names[779] == "school bus"  # ImageNet names
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))
    ten = torchvision.models.efficientnet_b0(weights=None, num_classes=10)
    torch.save({"state_dict": ten.state_dict()}, tmp_path / "b0.pth")
    loaded = yoloarena.load(tmp_path / "b0.pth")
    assert loaded.model_name == "efficientnet_b0" and loaded.num_classes == 10
