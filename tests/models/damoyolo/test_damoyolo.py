"""Issue 4: DAMO-YOLO keys, params/GFLOPs, parity with the official outputs, checkpoints."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import shared_json, shared_path
from recipe import fixture_input, recipe_state_dict

import yoloarena
from yoloarena.bench.stats import count_flops, count_params
from yoloarena.data.images import read_image
from yoloarena.errors import WeightsError
from yoloarena.nn import count_batchnorms
from yoloarena.registry import build_model, list_models

SIZES = ["t", "s", "m", "l", "ns", "nm", "nl"]


def meta_model(name: str):
    with torch.device("meta"):
        return build_model(name).eval()


def test_all_variants_registered() -> None:
    assert list_models("damoyolo", task="detect") == [f"damoyolo-{s}" for s in SIZES]


@pytest.mark.parametrize("size", SIZES)
def test_keys_and_shapes_equal_official(size: str) -> None:
    ref = shared_json("reference", f"damoyolo_{size}_keys.json")
    model = meta_model(f"damoyolo-{size}")
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(got) == list(ref["state_dict"]) and got == ref["state_dict"]
    model.reparameterize()
    deployed = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert deployed == ref["deploy_state_dict"]


@pytest.mark.parametrize("size", SIZES)
def test_params_and_gflops(size: str) -> None:
    ref = shared_json("reference", "damoyolo_measurements.json")["models"][size]
    imgsz = 416 if size.startswith("n") else 640
    model = meta_model(f"damoyolo-{size}")
    assert count_params(model) == ref["params_train"]
    gflops = count_flops(model, imgsz) / 1e9
    assert gflops == pytest.approx(ref[f"fc_gflops_train_{imgsz}"], rel=0.005)
    model.reparameterize()  # RepConv switch only: BatchNorms elsewhere stay, as in the README
    assert count_params(model) == ref["params_deploy"]
    gflops = count_flops(model, imgsz) / 1e9
    assert gflops == pytest.approx(ref[f"fc_gflops_deploy_{imgsz}"], rel=0.005)
    model.deploy()  # our full fold leaves no BatchNorm
    assert count_batchnorms(model) == 0 and count_params(model) < ref["params_deploy"]


@functools.cache
def _fixture(size: str) -> dict:
    return torch.load(shared_path("reference", "parity", f"damoyolo_{size}.pt"), weights_only=True)


def _check(out, ref: dict) -> None:
    torch.testing.assert_close(out.scores, ref["scores"], rtol=0, atol=1e-4)
    torch.testing.assert_close(out.boxes, ref["boxes"], rtol=0, atol=1e-2)


@pytest.mark.parametrize("size", SIZES)
@torch.no_grad()
def test_parity_before_and_after_reparameterisation(size: str) -> None:
    fx = _fixture(size)
    model = build_model(f"damoyolo-{size}").eval()
    missing = model.load_state_dict(recipe_state_dict(fx), strict=False).missing_keys
    assert set(missing) == set(fx["kept_buffers"])
    for key, value in fx["kept_buffers"].items():
        assert torch.equal(model.state_dict()[key], value)
    x = fixture_input(fx)
    unfused = model(x)
    _check(unfused, fx["outputs"]["unfused"])
    step = fx["subsample_step"]
    for got, exp in zip(model.features(x), fx["outputs"]["unfused"]["neck_sub"], strict=True):
        got = got.flatten(2)[..., ::step]
        torch.testing.assert_close(got, exp, rtol=0, atol=1e-4 * exp.abs().max().item())
    model.reparameterize()
    _check(model(x), fx["outputs"]["fused"])
    model.deploy()
    deployed = model(x)
    _check(deployed, fx["outputs"]["fused"])
    _check(deployed, {"scores": unfused.scores, "boxes": unfused.boxes})  # deploy moves little


def test_official_layout_round_trip_and_bad_files(tmp_path) -> None:
    model = build_model("damoyolo-ns")
    path = tmp_path / "damoyolo_nano_small.pth"
    torch.save({"model": model.state_dict(), "epoch": 300}, path)
    loaded = yoloarena.load(path)
    assert loaded.model_name == "damoyolo-ns" and loaded.imgsz == 416
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())
    sd = dict(ref)
    sd.pop("neck.merge_3.conv1.conv.weight")
    sd["head.gfl_reg.0.weight"] = torch.zeros(32, 40, 3, 3)
    torch.save({"model": sd}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as err:
        yoloarena.load(tmp_path / "bad.pth")
    msg = str(err.value)
    assert "closest is damoyolo-ns" in msg and "missing 1: neck.merge_3.conv1.conv.weight" in msg
    assert "head.gfl_reg.0.weight (32, 40, 3, 3) != (32, 40, 1, 1)" in msg
    legacy = {k: v for k, v in ref.items()}
    legacy["head.gfl_cls.0.weight"] = torch.zeros(81, 40, 1, 1)
    torch.save({"model": legacy}, tmp_path / "legacy.pth")
    with pytest.raises(WeightsError, match=r"legacy DAMO-YOLO v0\.1/v0\.2"):
        yoloarena.load(tmp_path / "legacy.pth")
    with_prefix = {f"module.{k}": v for k, v in ref.items()}
    torch.save(with_prefix, tmp_path / "prefixed.pth")
    assert yoloarena.load(tmp_path / "prefixed.pth").model_name == "damoyolo-ns"


def test_predict_uses_stretch_rgb_raw_pixels() -> None:
    model = build_model("damoyolo-ns").eval()
    assert model.transform.resize == "stretch" and model.transform.divisor == 1.0
    img = read_image(shared_path("data", "images", "zidane.jpg"))
    r = model.predict(img, conf=0.01)[0]  # the network's own predict, on an in-memory image
    assert r.orig_shape == (720, 1280) and len(r) > 0
    assert float(r.boxes[:, 2].max()) <= 1280 and float(r.boxes[:, 3].max()) <= 720
    assert model.eval_protocol.conf == 0.03 and model.eval_protocol.iou == 0.65
    assert build_model("damoyolo-t").eval_protocol.conf == 0.05


def test_val_with_stretch_protocol(tmp_path) -> None:
    from dataclasses import replace

    from bad_dataset import make_bad_dataset

    from yoloarena.data.load import load_dataset
    from yoloarena.engine.validator import validate

    data = make_bad_dataset(tmp_path / "d")
    ds = load_dataset(data["yaml"], "val")
    model = build_model("damoyolo-ns", num_classes=3).eval()
    proto = replace(model.eval_protocol, conf=0.001)
    result = validate(model, ds, imgsz=128, batch=4, protocol=proto, workers=0)
    assert result.protocol["rect"] is False and result.protocol["iou"] == 0.65
    assert result.images == len(ds) == 9 and result.predictions
    for p in result.predictions:
        i = ds.image_ids.tolist().index(p["image_id"])
        h, w = ds.shapes[i]
        x, y, bw, bh = p["bbox"]
        assert x >= 0 and y >= 0 and x + bw <= w + 1e-3 and y + bh <= h + 1e-3
    assert 0.0 <= result.metrics.stats["AP50"] <= 1.0
