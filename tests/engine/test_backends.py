"""Issue 13, must-show 1: ``backend=auto`` (and onnx, openvino) predict and val of the official
yolov5n equal PyTorch (detections within the export bound on the shared images; AP to 1e-4 on
coco128); the export cache is reused on a second run and rebuilt when the weights change."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import require, shared_path

import yoloarena
from yoloarena.engine import export_cache
from yoloarena.engine.backends import check_backend, fingerprint, resolve_backend
from yoloarena.engine.validator import validate
from yoloarena.errors import YoloArenaError
from yoloarena.weights import save_weights

RTOL, ATOL = 1e-4, 1e-4  # the export bound: rtol 1e-4 plus atol 1e-4 x max|reference|
EXPORTED = ("onnx", "openvino")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An empty export cache for this module."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("cache")
    mp.setenv("YOLOARENA_CACHE_DIR", str(folder))
    yield folder / "exports"
    mp.undo()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A copy of the official yolov5n.pt (the rebuild test overwrites it)."""
    require("onnxruntime", "the [export] extra is not installed")
    require("openvino", "the [export] extra is not installed")
    path = tmp_path_factory.mktemp("weights") / "yolov5n.pt"
    shutil.copyfile(shared_path("data", "weights", "yolov5n.pt"), path)
    return path


def image_paths() -> list[str]:
    """The shared sample images and the first 6 of coco128."""
    samples = sorted(shared_path("data", "images").glob("*.jpg"))
    coco = sorted(shared_path("data", "coco128", "images", "train2017").glob("*.jpg"))[:6]
    return [str(p) for p in samples + coco]


def canonical(r) -> tuple[torch.Tensor, ...]:
    """(boxes, scores, labels) sorted by label, then x1, y1 (rounded: robust to 1e-4 jitter)."""
    key = [(int(c), round(float(b[0]), 1), round(float(b[1]), 1))
           for b, c in zip(r.boxes, r.labels, strict=True)]  # fmt: skip
    order = sorted(range(len(key)), key=key.__getitem__)
    return r.boxes[order].float(), r.scores[order].float(), r.labels[order]


def assert_same_detections(ref: list, got: list) -> float:
    """Per image the same count and labels, boxes and scores within the export bound; returns
    the largest box difference in pixels."""
    worst = 0.0
    assert len(ref) == len(got)
    for a, b in zip(ref, got, strict=True):
        assert len(a) == len(b), (a.path, len(a), len(b))
        (ra, sa, la), (rb, sb, lb) = canonical(a), canonical(b)
        assert torch.equal(la, lb), a.path
        for r, g in ((ra, rb), (sa, sb)):
            if r.numel():
                bound = RTOL * r.abs() + ATOL * max(float(r.abs().max()), 1.0)
                assert ((g - r).abs() <= bound).all(), (a.path, float((g - r).abs().max()))
        worst = max(worst, float((ra - rb).abs().max()) if ra.numel() else 0.0)
    return worst


def entry_files(cache) -> list:
    return sorted(cache.glob("*/entry.json"))


@pytest.mark.slow
def test_auto_predict_and_hub_call_equal_pytorch(cache, weights) -> None:
    model = yoloarena.load(weights)
    paths = image_paths()
    ref = model.predict(paths)
    assert sum(len(r) for r in ref) >= 15  # the comparison has detections to compare (19)
    builds = export_cache.builds["count"]
    for backend in ("auto", *EXPORTED):
        assert_same_detections(ref, model.predict(paths, backend=backend))
    assert export_cache.builds["count"] == builds + 1  # one export for all three
    (entry,) = entry_files(cache)
    info = json.loads(entry.read_text())
    assert set(info["timings_ms"]) == {"torch", *EXPORTED}
    assert info["choice"] == min(info["timings_ms"], key=info["timings_ms"].get)
    assert set(info["parity"]) == set(EXPORTED) and not info["failed"]
    hub_ref = model(paths[:2])
    for backend in ("auto", *EXPORTED):  # the hub call's shared letterbox shape, same entry
        assert_same_detections(list(hub_ref), list(model(paths[:2], backend=backend)))
    assert export_cache.builds["count"] == builds + 1


@pytest.mark.slow
def test_auto_val_gives_the_pytorch_ap(cache, weights, yolov5n_coco128_val, coco128_yolo) -> None:
    ref = yolov5n_coco128_val.metrics.stats
    net = yoloarena.load(weights).model
    auto = resolve_backend(net, "auto", 640)
    chosen = getattr(auto, "backend", "torch")
    runs = {"auto": auto} | {b: resolve_backend(net, b, 640) for b in EXPORTED if b != chosen}
    for name, runner in runs.items():
        got = validate(runner, coco128_yolo, imgsz=640, batch=32)
        assert got.protocol == yolov5n_coco128_val.protocol
        for key in ("AP", "AP50", "AP75"):
            assert abs(got.metrics.stats[key] - ref[key]) <= 1e-4, (name, key)
        assert abs(len(got.predictions) - len(yolov5n_coco128_val.predictions)) <= 2, name


@pytest.mark.slow
def test_cache_is_reused_then_rebuilt_when_the_weights_change(cache, weights) -> None:
    resolve_backend(yoloarena.load(weights).model, "auto", 640)  # built here if run alone
    (entry,) = entry_files(cache)
    stamp, builds = entry.stat().st_mtime_ns, export_cache.builds["count"]
    again = resolve_backend(yoloarena.load(weights).model, "onnx", 640)  # a new process's view
    assert export_cache.builds["count"] == builds  # no export
    assert entry.stat().st_mtime_ns == stamp and again.cache_entry == str(entry.parent)
    changed = yoloarena.load(weights).model
    with torch.no_grad():
        changed.model[0].conv.weight.mul_(1.001)
    save_weights(changed, weights)  # the same file, new content
    fresh = resolve_backend(yoloarena.load(weights).model, "auto", 640)
    assert export_cache.builds["count"] == builds + 1
    (new_entry,) = entry_files(cache)  # the entry of the old content was removed
    assert new_entry != entry and not entry.exists()
    assert getattr(fresh, "cache_entry", str(new_entry.parent)) == str(new_entry.parent)


def test_backend_names_and_what_auto_runs_in_pytorch(cache) -> None:
    assert check_backend("AUTO") == "auto" and check_backend("") == "" and not check_backend(None)
    with pytest.raises(YoloArenaError, match="backend=tpu is not one of torch, auto, onnx"):
        check_backend("tpu")
    net = yoloarena.load("yolov5n").model  # random weights: nothing worth exporting
    builds, entries = export_cache.builds["count"], entry_files(cache)
    assert resolve_backend(net, "auto", 320) is net
    assert resolve_backend(net, "auto", 320, augment=True) is net
    with pytest.raises(YoloArenaError, match="test-time augmentation"):
        resolve_backend(net, "onnx", 320, augment=True)
    assert export_cache.builds["count"] == builds and entry_files(cache) == entries


def test_fingerprint_sees_weights_changed_in_place() -> None:
    net = yoloarena.load("yolov5n").model
    before = fingerprint(net)
    assert fingerprint(net) == before
    with torch.no_grad():
        next(net.parameters()).add_(0.0)
    assert fingerprint(net) != before


def test_cli_refuses_an_unknown_backend(capsys) -> None:
    from yoloarena.cli import main

    assert main(["predict", "model=yolov5n", "source=x.jpg", "backend=tpu"]) == 1
    assert "backend=tpu is not one of" in capsys.readouterr().err
