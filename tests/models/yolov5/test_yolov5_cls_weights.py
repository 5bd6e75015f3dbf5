"""Issue 16: official YOLOv5 classification .pt files through the safe loader, and a detection
checkpoint (the real yolov5n.pt) starting a classifier.

No official -cls file is shared, so the test writes one shaped like a v7.0 release: the pickled
`models.yolo.ClassificationModel` (layers in an nn.Sequential, `models.common.Conv/C3/Bottleneck/
Classify`), fp16, with upstream's attached preprocessing (`utils.augmentations.CenterCrop`,
`ToTensor`, torchvision `Compose`/`Normalize`), the names dict and an `opt` holding a PosixPath.
"""

from __future__ import annotations

import copy
import pathlib
import sys
import types

import torch
import torchvision.transforms as T
from conftest import shared_path
from torch import nn

import yoloarena
from yoloarena.engine.classify_train import build_classifier
from yoloarena.models.yolov5.classify import YOLOv5Classifier
from yoloarena.nn.blocks import C3, Bottleneck, ConvBNAct
from yoloarena.nn.classify import ClassifyHead
from yoloarena.registry import build_model
from yoloarena.safe_pickle import safe_load

_FAKE = {"models": None, "models.yolo": None, "models.common": None, "utils": None,
         "utils.augmentations": None}  # fmt: skip


def _fake_classes() -> dict[str, type]:
    mods = {name: types.ModuleType(name) for name in _FAKE}
    out = {}
    modules = ["models.common.Conv", "models.common.C3", "models.common.Bottleneck",
               "models.common.Classify", "models.yolo.ClassificationModel"]  # fmt: skip
    plain = ["utils.augmentations.CenterCrop", "utils.augmentations.ToTensor"]
    for path, base in [(p, nn.Module) for p in modules] + [(p, object) for p in plain]:
        module, name = path.rsplit(".", 1)
        cls = type(name, (base,), {})
        cls.__module__, cls.__qualname__ = module, name
        setattr(mods[module], name, cls)
        out[path] = cls
    return {"modules": mods, **out}


def write_official_cls(model: YOLOv5Classifier, path: pathlib.Path, names: dict) -> None:
    """model's weights saved as upstream's classify/train.py + strip_optimizer would save them."""
    fake = _fake_classes()
    net = copy.deepcopy(model).half()
    swap = {ConvBNAct: "models.common.Conv", C3: "models.common.C3",
            Bottleneck: "models.common.Bottleneck",
            ClassifyHead: "models.common.Classify"}  # fmt: skip
    for m in net.modules():
        if type(m) in swap:
            m.__class__ = fake[swap[type(m)]]
    layers = list(net.model)
    for i, layer in enumerate(layers):
        layer.i, layer.f, layer.type, layer.np = i, -1, "models.common.x", 0
    top = fake["models.yolo.ClassificationModel"]()
    top.model = nn.Sequential(*layers)
    top.names, top.nc, top.save = names, len(names), []
    top.stride = torch.tensor([8.0, 16.0, 32.0])
    crop, to_tensor = (
        fake["utils.augmentations.CenterCrop"](),
        fake["utils.augmentations.ToTensor"](),
    )
    crop.h = crop.w = 224
    top.transforms = T.Compose([crop, to_tensor, T.Normalize((0.485, 0.456, 0.406),
                                                             (0.229, 0.224, 0.225))])  # fmt: skip
    top.requires_grad_(False)
    opt = {"imgsz": 224, "project": pathlib.PosixPath("runs/train-cls")}
    ckpt = {"epoch": -1, "best_fitness": None, "model": top, "ema": None, "updates": None,
            "optimizer": None, "opt": opt,
            "git": {"remote": "", "branch": "", "commit": ""},
            "date": "2022-08-17T12:00:00"}  # fmt: skip
    saved = {k: sys.modules.get(k) for k in _FAKE}
    sys.modules.update(fake["modules"])
    try:
        torch.save(ckpt, path)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def test_official_cls_file_loads_through_the_safe_loader(tmp_path) -> None:
    torch.manual_seed(0)
    names = {i: f"class_{i}" for i in range(10)}
    model = build_model("yolov5s-cls", num_classes=10, names=names).eval()
    for p in model.parameters():  # non-trivial weights, exactly representable in fp16
        p.data = torch.randn_like(p).mul(0.1).half().float()
    path = tmp_path / "yolov5s-cls.pt"
    write_official_cls(model, path, names)
    globals_ = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    assert {"models.yolo.ClassificationModel", "models.common.Classify", "models.common.Conv",
            "utils.augmentations.CenterCrop", "torchvision.transforms.transforms.Compose",
            "torchvision.transforms.transforms.Normalize",
            "pathlib.PosixPath"} <= globals_  # fmt: skip
    ckpt = safe_load(path)
    assert ckpt["model"].class_path == "models.yolo.ClassificationModel"
    loaded = yoloarena.load(path)
    assert loaded.model_name == "yolov5s-cls" and loaded.task == "classify"
    assert loaded.names == names and loaded.num_classes == 10
    ref = {k: v.half().float() if v.is_floating_point() else v
           for k, v in model.state_dict().items()}  # fmt: skip
    got = loaded.state_dict()
    assert list(got) == list(ref) and all(torch.equal(got[k], ref[k]) for k in ref)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=1e-5)


def test_detection_checkpoint_starts_a_classifier() -> None:
    """yolov5n.pt (detection) -> yolov5n-cls: layers 0-8 from the file, the Classify head new."""
    det_path = shared_path("data", "weights", "yolov5n.pt")
    det = yoloarena.load(det_path).state_dict()
    cls = build_classifier(str(det_path), 3, {0: "a", 1: "b", 2: "c"}, None)
    assert cls.model_name == "yolov5n-cls" and cls.num_classes == 3
    sd = cls.state_dict()
    backbone = [k for k in sd if int(k.split(".")[1]) <= 8]
    assert len(backbone) == len([k for k in det if int(k.split(".")[1]) <= 8]) > 100
    assert all(torch.equal(sd[k], det[k]) for k in backbone)
    head = [k for k in sd if k.startswith("model.9.")]
    assert head and all(k not in det for k in head)  # detection's model.9 is the SPPF
    assert sd["model.9.linear.weight"].shape == (3, 1280)
    fresh = build_classifier("yolov5n", 3, {0: "a", 1: "b", 2: "c"}, None)  # a detector's name
    assert fresh.model_name == "yolov5n-cls"
    assert not torch.equal(fresh.state_dict()["model.0.conv.weight"], det["model.0.conv.weight"])
