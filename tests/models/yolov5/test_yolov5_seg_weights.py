"""Issue 15: official v7.0 segmentation checkpoints open through the safe loader, and detection
weights initialise a seg model's shared layers (with a report of what was skipped).

No official -seg .pt is available offline, so the file is simulated the way the official code
writes one (spec 12.1/12.2): a torch.save (pickle protocol 2) of the whole module tree whose
classes live in `models.yolo` / `models.common`, in float16, with Segment holding a reference to
Detect.forward (pickled as builtins.getattr) and the usual top-level keys.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch
from conftest import shared_path
from torch import nn

import yoloarena
from yoloarena.models.yolov5.segment import Proto, Segment
from yoloarena.nn.blocks import C3, SPPF, Bottleneck, Concat, ConvBNAct
from yoloarena.registry import build_model
from yoloarena.safe_pickle import safe_load
from yoloarena.weights import init_from

OFFICIAL = {ConvBNAct: "models.common.Conv", C3: "models.common.C3",
            Bottleneck: "models.common.Bottleneck", SPPF: "models.common.SPPF",
            Concat: "models.common.Concat", Proto: "models.common.Proto",
            Segment: "models.yolo.Segment"}  # fmt: skip


def _fake_class(path: str, base: type, registry: dict) -> type:
    """A subclass of base that pickles under the official class path (one per path)."""
    module, name = path.rsplit(".", 1)
    namespace = registry.setdefault(module, types.ModuleType(module)).__dict__
    if name not in namespace:
        namespace[name] = type(name, (base,), {"__module__": module, "__qualname__": name})
    return namespace[name]


def write_official_like(model: nn.Module, path, nc: int) -> None:
    """torch.save a copy of model the way the official strip_optimizer leaves a file."""
    fakes: dict[str, types.ModuleType] = {"models": types.ModuleType("models")}
    detect = _fake_class("models.yolo.Detect", nn.Module, fakes)

    def forward(self, x):
        return x

    forward.__module__, forward.__qualname__ = "models.yolo", "Detect.forward"
    detect.forward = forward
    for m in model.modules():
        if type(m) in OFFICIAL:
            m.__class__ = _fake_class(OFFICIAL[type(m)], type(m), fakes)
    model.__class__ = _fake_class("models.yolo.SegmentationModel", type(model), fakes)
    model.model[-1].detect = detect.forward  # as Segment does: self.detect = Detect.forward
    for ours in ("transform", "scale"):  # our own dataclasses, not in official files
        del model.__dict__[ours]
    model.yaml = {"nc": nc, "depth_multiple": 0.33, "width_multiple": 0.25}
    model.names = {i: f"c{i}" for i in range(nc)}
    saved = {k: sys.modules.get(k) for k in fakes}
    sys.modules.update(fakes)
    try:
        ckpt = {"epoch": -1, "best_fitness": None, "model": model.half(), "ema": None,
                "updates": None, "optimizer": None, "opt": {"imgsz": 640}, "git": {},
                "date": "2022-11-22T00:00:00"}  # fmt: skip
        torch.save(ckpt, path)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def test_official_seg_checkpoint_loads_safely(tmp_path) -> None:
    source = build_model("yolov5n-seg", num_classes=3)
    expected = {k: v.clone() for k, v in source.state_dict().items()}
    path = tmp_path / "yolov5n-seg.pt"
    write_official_like(source, path, 3)
    found = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    assert {"models.yolo.SegmentationModel", "models.yolo.Segment", "models.common.Proto",
            "builtins.getattr"} <= found  # fmt: skip
    raw = safe_load(path)["model"]
    assert raw.class_path == "models.yolo.SegmentationModel"
    model = yoloarena.load(path)
    assert model.model_name == "yolov5n-seg" and model.task == "segment"
    assert model.num_classes == 3 and model.names == {0: "c0", 1: "c1", 2: "c2"}
    got = model.state_dict()
    assert list(got) == list(expected)
    for key, value in expected.items():  # the file holds float16, as official releases do
        torch.testing.assert_close(got[key], value.half().to(value.dtype), rtol=0, atol=0)


def test_detection_weights_initialise_shared_layers() -> None:
    det_path = shared_path("data", "weights", "yolov5n.pt")
    det = yoloarena.load(det_path).state_dict()
    seg = build_model("yolov5n-seg")
    before = {k: v.clone() for k, v in seg.state_dict().items()}
    report = init_from(seg, det_path)
    heads = [f"model.24.m.{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    assert report.skipped == heads  # 255 outputs per level in detection, 351 with masks
    assert report.unexpected == []
    assert report.missing == [k for k in before if k.startswith("model.24.proto.")]
    assert len(report.missing) == 18 and len(report.loaded) == len(det) - 6 == 343
    got = seg.state_dict()
    for key in report.loaded:
        assert torch.equal(got[key], det[key]), key
    for key in report.skipped + report.missing:
        assert torch.equal(got[key], before[key]), key
    text = report.summary()
    assert "343 tensors loaded, 6 skipped" in text and "model.24.m.0.weight" in text


def test_classification_checkpoint_is_refused(tmp_path) -> None:
    fakes = {"models": types.ModuleType("models")}
    cls = _fake_class("models.yolo.ClassificationModel", nn.Module, fakes)
    saved = {k: sys.modules.get(k) for k in fakes}
    sys.modules.update(fakes)
    try:
        torch.save({"model": cls(), "epoch": -1}, tmp_path / "cls.pt")
    finally:
        for key, value in saved.items():
            sys.modules.pop(key, None) if value is None else sys.modules.__setitem__(key, value)
    with pytest.raises(yoloarena.errors.WeightsError, match="classification checkpoint"):
        yoloarena.load(tmp_path / "cls.pt")
