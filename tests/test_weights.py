"""Issue 2, must-show 3 and 4: real official weights through the safe loader; unsafe pickles."""

from __future__ import annotations

import os
import sys
import types

import pytest
import torch
from conftest import shared_path
from recipe import official_pred

import yoloarena
from yoloarena.errors import WeightsError
from yoloarena.registry import build_model
from yoloarena.safe_pickle import Placeholder, UnsafeCheckpointError, _resolve, safe_load
from yoloarena.weights import load_into, save_weights


def test_official_file_opens_as_placeholders() -> None:
    ckpt = safe_load(shared_path("data", "weights", "yolov5n.pt"))
    model = ckpt["model"]
    assert isinstance(model, Placeholder) and model.class_path == "models.yolo.Model"
    assert ckpt["epoch"] == -1 and isinstance(model.names, list) and len(model.names) == 80


@torch.no_grad()
def test_real_weights_reproduce_fixed_io(yolov5n_official) -> None:
    fx = torch.load(shared_path("reference", "yolov5n_fixed_io.pt"), weights_only=True)
    torch.manual_seed(0)
    x = torch.rand(1, 3, 640, 640)
    assert torch.equal(x.flatten()[:8], fx["input_check"]["first8"])
    out = yolov5n_official(x)
    pred, ref = official_pred(out), fx["pred"]
    torch.testing.assert_close(pred[..., :4], ref[..., :4], rtol=3e-4, atol=1e-2)
    torch.testing.assert_close(pred[..., 4:], ref[..., 4:], rtol=0, atol=1e-4)
    for level, exp in zip(out.levels, fx["raw_sub"], strict=True):
        got = level.flatten(1, 3)[:, ::17]
        torch.testing.assert_close(got, exp, rtol=0, atol=1e-4 * exp.abs().max().item())


def test_real_weights_metadata(yolov5n_official) -> None:
    m = yolov5n_official
    assert m.model_name == "yolov5n" and m.num_classes == 80
    assert m.names[0] == "person" and m.names[79] == "toothbrush"
    anchors = m.state_dict()["model.24.anchors"]
    assert anchors[0, 0].tolist() == [1.25, 1.625]


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": _Evil(str(marker)), "epoch": -1}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|os)\.system"):
        yoloarena.load(path)
    assert not marker.exists()


def test_eval_hidden_inside_allowed_class_is_refused(tmp_path) -> None:
    """A file that looks like a YOLOv5 checkpoint but smuggles builtins.eval is refused."""
    marker = tmp_path / "pwned"

    class Smuggle:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    fake = types.ModuleType("models.yolo")

    class Model(torch.nn.Module):
        pass

    Model.__module__, Model.__qualname__ = "models.yolo", "Model"
    fake.Model = Model
    parent = types.ModuleType("models")
    parent.yolo = fake
    saved = {k: sys.modules.get(k) for k in ("models", "models.yolo")}
    sys.modules.update({"models": parent, "models.yolo": fake})
    try:
        m = Model()
        m.payload = Smuggle()
        path = tmp_path / "smuggle.pt"
        torch.save({"model": m}, path)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.eval"):
        safe_load(path)
    assert not marker.exists()


def test_placeholders_only_for_allow_listed_paths() -> None:
    assert _resolve("models.yolo", "Model").class_path == "models.yolo.Model"
    assert _resolve("models.yolo", "DetectionModel").class_path == "models.yolo.DetectionModel"
    assert _resolve("torch.nn.modules.conv", "Conv2d").class_path == "torch.nn.modules.conv.Conv2d"
    refused = [
        ("mypkg.models", "Model"), ("os", "system"), ("builtins", "exec"),
        ("subprocess", "Popen"), ("builtins", "__import__"), ("torch", "load"),
    ]  # fmt: skip
    for module, name in refused:
        assert _resolve(module, name) is None, (module, name)


def test_own_format_round_trip_bit_exact(tmp_path, yolov5n_official) -> None:
    path = save_weights(yolov5n_official, tmp_path / "w" / "best.pt")
    raw = torch.load(path, weights_only=True)  # plain tensors and primitives only
    assert raw["format"] == "yoloarena" and raw["model_name"] == "yolov5n"
    again = yoloarena.load(path)
    ref = yolov5n_official.state_dict()
    got = again.state_dict()
    assert list(got) == list(ref) and all(torch.equal(got[k], ref[k]) for k in ref)
    assert again.names == yolov5n_official.names
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temp files left


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch) -> None:
    model = build_model("yolov5n", num_classes=2)
    path = save_weights(model, tmp_path / "last.pt")
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_weights(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_bad_weight_files(tmp_path) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        yoloarena.load(empty)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="cannot read weights file"):
        yoloarena.load(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"hello": torch.zeros(3)}, plain)
    with pytest.raises(WeightsError, match="not a checkpoint yoloarena recognises"):
        yoloarena.load(plain)
    with pytest.raises(WeightsError, match="not found"):
        yoloarena.load(tmp_path / "missing.pt")


def test_mismatched_state_dict_lists_keys() -> None:
    model = build_model("yolov5n")
    sd = model.state_dict()
    sd.pop("model.0.conv.weight")
    sd["model.24.m.0.weight"] = torch.zeros(18, 64, 1, 1)
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError) as err:
        load_into(build_model("yolov5n"), sd, "test.pt")
    msg = str(err.value)
    assert "missing 1: model.0.conv.weight" in msg
    assert "unexpected 1: extra.weight" in msg
    assert "model.24.m.0.weight (18, 64, 1, 1) != (255, 64, 1, 1)" in msg
