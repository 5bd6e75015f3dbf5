"""Issue 16: DAMO-YOLO's TinyNAS backbones as classifiers (damoyolo-*-cls): the detector's backbone
unchanged (the official detection keys), YOLOv5's Classify head on its stride-32 output, the
family's raw 0..255 input, deploy() fusing every BatchNorm, and a detection checkpoint starting
one (backbone loaded, head new)."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_json

from yoloarena.engine.classify_train import build_classifier
from yoloarena.nn.fuse import count_batchnorms
from yoloarena.registry import build_model, list_models
from yoloarena.weights import save_weights

SIZES = ["t", "s", "m", "l", "ns", "nm", "nl"]
# stride-32 channels of each searched backbone (the official neck's last input)
C5 = {"t": 384, "s": 512, "m": 512, "l": 512, "ns": 160, "nm": 256, "nl": 320}


def test_registered() -> None:
    assert list_models("damoyolo", task="classify") == [f"damoyolo-{s}-cls" for s in SIZES]


@pytest.mark.parametrize("size", SIZES)
def test_backbone_keys_are_the_detectors(size: str) -> None:
    official = shared_json("reference", f"damoyolo_{size}_keys.json")["state_dict"]
    backbone = {k: v for k, v in official.items() if k.startswith("backbone.")}
    with torch.device("meta"):
        model = build_model(f"damoyolo-{size}-cls", num_classes=7)
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert {k: v for k, v in got.items() if k.startswith("backbone.")} == backbone
    head = {k: v for k, v in got.items() if not k.startswith("backbone.")}
    assert head["head.conv.conv.weight"] == [1280, C5[size], 1, 1]
    assert head["head.linear.weight"] == [7, 1280] and len(head) == 8  # conv, BN (5), linear (2)


@torch.no_grad()
def test_forward_deploy_and_input_convention() -> None:
    model = build_model("damoyolo-t-cls", num_classes=5).eval()
    t = model.transform
    assert (t.divisor, t.mean, t.std) == (1.0, None, None)  # raw 0..255, as the detector
    x = torch.rand(2, 3, 64, 64) * 255
    ref = model(x)
    assert ref.shape == (2, 5)
    model.deploy()
    assert count_batchnorms(model) == 0
    torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_detection_checkpoint_starts_the_classifier(tmp_path) -> None:
    torch.manual_seed(0)
    det = build_model("damoyolo-t")
    path = save_weights(det, tmp_path / "damoyolo-t.pt")
    cls = build_classifier(str(path), 4, {i: str(i) for i in range(4)}, None)
    assert cls.model_name == "damoyolo-t-cls"
    ref, sd = det.state_dict(), cls.state_dict()
    backbone = [k for k in sd if k.startswith("backbone.")]
    assert backbone and all(torch.equal(sd[k], ref[k]) for k in backbone)
    assert not any(k in ref for k in sd if k.startswith("head."))
