"""hubconf.py and the torch.hub call `model(ims)` -> Detections (issue 14, must-show 1, 2, 3, 5).

The golden file is the official v7.0 `hubconf.custom(path=yolov5n.pt)` (AutoShape) called on
[zidane.jpg, bus.jpg] (shared/reference/yolov5n_hub_detections.json)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, shared_json, shared_path
from http_server import Route, serve
from PIL import Image

from yoloarena.data.images import read_image
from yoloarena.data.urls import DownloadError
from yoloarena.detections import Detections, MissingDependencyError
from yoloarena.errors import WeightsError, YoloArenaError
from yoloarena.models.base import HeadOutput

NAMES = ("zidane.jpg", "bus.jpg")
XYXY = ["xmin", "ymin", "xmax", "ymax", "confidence", "class", "name"]
XYWH = ["xcenter", "ycenter", "width", "height", "confidence", "class", "name"]


def _images() -> list[str]:
    return [str(shared_path("data", "images", n)) for n in NAMES]


@functools.cache
def _custom():
    weights = shared_path("data", "weights", "yolov5n.pt")
    return torch.hub.load(str(REPO), "custom", path=str(weights), source="local")


@functools.cache
def _golden_call() -> Detections:
    return _custom()(_images())


def _same_records(got: list[dict], want: list[dict], keys: tuple[str, ...]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g["class"], g["name"]) == (w["class"], w["name"])
        assert max(abs(g[k] - w[k]) for k in keys) <= 1e-2, (g, w)
        assert abs(g["confidence"] - w["confidence"]) <= 1e-4


def check_golden(results: Detections, capsys) -> None:
    ref = shared_json("reference", "yolov5n_hub_detections.json")
    assert len(results) == ref["len_results"] == 2 and results.n == 2
    capsys.readouterr()
    results.print()
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert "\n".join(lines[:-1]) == ref["str_results_without_speed"]
    assert re.fullmatch(ref["speed_line_regex"], lines[-1]), lines[-1]
    assert str(results).split("\nSpeed: ")[0] == ref["str_results_without_speed"]
    assert repr(results).endswith(str(results)) and "Detections" in repr(results)
    assert results.files == ref["files"] and list(results.s) == ref["inference_shape"]
    table = results.pandas()
    for i in range(2):
        assert list(table.xyxy[i].columns) == XYXY and list(table.xywh[i].columns) == XYWH
        _same_records(table.xyxy[i].to_dict("records"), ref["pandas_xyxy"][i],
                      ("xmin", "ymin", "xmax", "ymax"))  # fmt: skip
        _same_records(table.xywh[i].to_dict("records"), ref["pandas_xywh"][i],
                      ("xcenter", "ycenter", "width", "height"))  # fmt: skip
        got, want = results.xyxyn[i], torch.tensor(ref[f"xyxyn_{i}"])
        h, w = ref["image_shapes_hw"][i]
        assert got.shape == want.shape
        assert ((got[:, :4] - want[:, :4]) * torch.tensor([w, h, w, h])).abs().max() <= 1e-2
        assert (got[:, 4] - want[:, 4]).abs().max() <= 1e-4 and got[:, 5].equal(want[:, 5])
        assert torch.allclose(results.xyxy[i], torch.tensor(ref["xyxy"][i]), atol=1e-2)


# ---------------------------------------------------------------- must-show 1: the snippet
def test_hub_snippet_custom_reproduces_official(capsys) -> None:
    results = _golden_call()
    check_golden(results, capsys)
    assert all(r.path == p for r, p in zip(results, _images(), strict=True))
    assert [r.summary() for r in results] == ["2 persons, 1 tie", "3 persons, 1 bus"]


def test_hub_snippet_pretrained_reproduces_official(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLOARENA_WEIGHTS", str(shared_path("data", "weights")))
    model = torch.hub.load(str(REPO), "yolov5n", pretrained=True, source="local")
    assert model.deployed and not model.training
    check_golden(model(_images()), capsys)


# ---------------------------------------------------------------- must-show 2: show/save/crop
def test_show_headless_save_and_crop(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    results = _golden_call()
    assert results.show() is None
    out = capsys.readouterr().out
    shown = Path("runs/detect/exp")
    assert sorted(p.name for p in shown.iterdir()) == ["bus.jpg", "zidane.jpg"]
    assert str(shown) in out and "no display" in out
    drawn = cv2.imread(str(shown / "zidane.jpg"))
    original = read_image(_images()[0])
    assert drawn.shape == original.shape and np.abs(drawn.astype(int) - original).max() > 100
    assert results.save() == Path("runs/detect/exp2")
    assert results.save(labels=False) == Path("runs/detect/exp3")
    assert results.save(save_dir="mine", exist_ok=True) == results.save(save_dir="mine",
                                                                         exist_ok=True)  # fmt: skip
    assert sorted(p.name for p in Path("runs/detect/exp3").iterdir()) == ["bus.jpg", "zidane.jpg"]
    crops = results.crop()
    folder = Path("runs/detect/exp4/crops")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == ["bus/bus.jpg", "person/bus.jpg", "person/bus2.jpg", "person/bus3.jpg",
                     "person/zidane.jpg", "person/zidane2.jpg", "tie/zidane.jpg"]  # fmt: skip
    assert len(crops) == 7 and {c["label"].split()[0] for c in crops} == {"person", "tie", "bus"}
    for c in crops:  # the box grown by 2% + 10 px, clipped to the image
        x1, y1, x2, y2 = (float(v) for v in c["box"])
        h, w = c["im"].shape[:2]
        assert abs(w - min((x2 - x1) * 1.02 + 10, 1280)) <= 2 or x2 >= 800
        assert abs(h - min((y2 - y1) * 1.02 + 10, 1080)) <= 2 or y2 >= 700
    assert cv2.imread(str(folder / "tie" / "zidane.jpg")).shape == crops[0]["im"].shape
    assert len(results.crop(save=False)) == 7 and not Path("runs/detect/exp5").exists()


def test_render_tolist_and_fields() -> None:
    results = _golden_call()
    pieces = results.tolist()
    assert [len(p) for p in pieces] == [1, 1] and pieces[1].files == ["bus.jpg"]
    assert str(pieces[0]).startswith("image 1/1: 720x1280 2 persons, 1 tie\nSpeed: ")
    assert results[0].boxes.equal(results.xyxy[0][:, :4])
    cx = (results.xyxy[1][:, 0] + results.xyxy[1][:, 2]) / 2
    assert torch.allclose(results.xywh[1][:, 0], cx) and results.xywhn[1][:, 0].max() <= 1
    assert results.names[0] == "person" and results.ims[1].shape == (1080, 810, 3)
    copy = Detections(list(results), results.files, results.s, results.t, results.names)
    rendered = copy.render()
    assert rendered[0].shape == (720, 1280, 3) and not np.array_equal(rendered[0], results.ims[0])
    assert np.array_equal(results.ims[0], read_image(_images()[0])[:, :, ::-1])


def test_pandas_missing_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'yoloarena\[hub\]'"):
        _golden_call().pandas()


# ---------------------------------------------------------------- inputs and settings
def test_every_input_kind_gives_the_same_detections() -> None:
    model = _custom()
    path = _images()[0]
    bgr = read_image(path)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    base = model(path, size=160)
    assert base.s == (1, 3, 96, 160) and base.files == ["zidane.jpg"]
    kinds = {
        "pil": Image.open(path),
        "rgb": rgb,
        "bgr": bgr,
        "chw": rgb.transpose(2, 0, 1).copy(),
        "rgba": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "path": Path(path),
    }
    for kind, item in kinds.items():
        got = model(item, size=160, bgr=kind == "bgr")
        assert got[0].boxes.equal(base[0].boxes), kind
    assert model(kinds["rgb"], size=160).files == ["image0.jpg"]
    assert model(kinds["pil"], size=160).files == ["zidane.jpg"]
    mixed = model([kinds["pil"], _images()[1], kinds["rgb"]], size=160)
    assert mixed.files == ["zidane.jpg", "bus.jpg", "image2.jpg"] and mixed.s == (3, 3, 160, 160)
    assert mixed[0].boxes.allclose(mixed[2].boxes)


def test_settings_on_the_instance() -> None:
    model = torch.hub.load(str(REPO), "custom", path=str(shared_path("data", "weights",
                           "yolov5n.pt")), source="local")  # fmt: skip
    assert (model.conf, model.iou, model.max_det, model.agnostic, model.multi_label,
            model.classes, model.amp) == (0.25, 0.45, 1000, False, False, None, False)  # fmt: skip
    path = _images()[1]
    assert len(model(path, size=320)[0]) > 1
    model.classes = [5]
    assert set(model(path, size=320)[0].labels.tolist()) == {5}
    model.classes, model.max_det = None, 1
    assert len(model(path, size=320)[0]) == 1
    model.max_det, model.conf = 1000, 0.99
    assert len(model(path, size=320)[0]) == 0
    assert "(no detections)" in str(model(path, size=320))
    assert len(model(path, size=320, conf=0.25)[0]) > 1  # one call's override
    assert model.model.num_classes == 80  # the settings live on the wrapper
    with pytest.raises(YoloArenaError, match="unknown argument"):
        model(path, confidence=0.5)


def test_tensor_runs_the_raw_forward() -> None:
    model = _custom()
    x = torch.zeros(1, 3, 64, 64)
    with torch.inference_mode():
        out = model(x)
        tta = model(x, augment=True)
    assert isinstance(out, HeadOutput) and out.boxes.shape[1] == 3 * (64 + 16 + 4)
    assert isinstance(tta, HeadOutput) and tta.boxes.shape[1] > out.boxes.shape[1]


def test_hub_call_augment() -> None:
    results = _custom()(_images(), size=320, augment=True)
    assert isinstance(results, Detections) and results.s == (2, 3, 320, 320)
    assert len(results[1]) >= 3 and 0 in results[1].labels.tolist()


def test_bad_inputs_are_one_line(tmp_path) -> None:
    model = _custom()
    with pytest.raises(YoloArenaError, match="is a folder"):
        model(str(tmp_path))
    with pytest.raises(YoloArenaError, match="int is not supported"):
        model([_images()[0], 3])
    with pytest.raises(YoloArenaError, match="empty list"):
        model([])
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(YoloArenaError, match=r"bad\.jpg: cannot be decoded"):
        model(str(tmp_path / "bad.jpg"))


# ---------------------------------------------------------------- must-show 3: URL sources
def test_hub_call_on_url_equals_file() -> None:
    model = _custom()
    data = shared_path("data", "images", "zidane.jpg").read_bytes()
    with serve({"/images/zidane.jpg": Route(data)}) as base:
        url = f"{base}/images/zidane.jpg"
        from_url = model([url, _images()[1]])
        with pytest.raises(DownloadError) as err:
            model(f"{base}/images/missing.jpg")
    assert from_url.files == ["zidane.jpg", "bus.jpg"] and from_url[0].path == url
    file = _golden_call()
    for a, b in zip(from_url, file, strict=True):
        assert a.boxes.equal(b.boxes) and a.scores.equal(b.scores) and a.labels.equal(b.labels)
    assert str(err.value) == f"{base}/images/missing.jpg: HTTP error 404 Not Found"


# ---------------------------------------------------------------- must-show 5: DAMO-YOLO
@pytest.mark.slow
def test_hub_damoyolo_call(capsys) -> None:
    torch.manual_seed(0)
    model = torch.hub.load(str(REPO), "damoyolo_t", source="local", pretrained=False)
    assert (model.conf, model.iou, model.max_det) == (0.25, 0.7, 500)  # the family's defaults
    model.conf, model.max_det = 0.01, 20  # random weights score about 0.01 (the head's prior)
    results = model(_images(), size=320)
    assert results.s == (2, 3, 320, 320)  # stretched, whatever the image shapes
    capsys.readouterr()
    results.print()
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert len(lines) == 3 and lines[2].startswith("Speed: ") and "(2, 3, 320, 320)" in lines[2]
    for i, (path, line) in enumerate(zip(_images(), lines, strict=False)):
        (alone,) = model.model.predict(read_image(path), imgsz=320, conf=0.01, max_det=20)
        r = results[i]
        assert r.labels.equal(alone.labels) and torch.allclose(r.boxes, alone.boxes, atol=1e-3)
        counts = Counter(model.names[c] for c in alone.labels.tolist())
        order = sorted(counts, key=lambda n: list(model.names.values()).index(n))
        text = ", ".join(f"{counts[n]} {n}{'s' if counts[n] > 1 else ''}" for n in order)
        h, w = read_image(path).shape[:2]
        assert len(alone) and line == f"image {i + 1}/2: {h}x{w} {text}"
    table = results.pandas().xyxy[0]
    assert list(table.columns) == XYXY and set(table["name"]) <= set(model.names.values())
    assert len(model(_images()[1], size=320, augment=True)) == 1


# ---------------------------------------------------------------- hubconf entry points
def test_hub_random_model() -> None:
    model = torch.hub.load(str(REPO), "yolov5s", source="local", pretrained=False, classes=3)
    assert model.model_name == "yolov5s" and model.num_classes == 3 and not model.training
    plain = torch.hub.load(str(REPO), "yolov5n", source="local", pretrained=False, autoshape=False)
    assert isinstance(plain, torch.nn.Module) and plain.model_name == "yolov5n"


def test_hub_custom_weights_predict() -> None:
    results = _custom().predict(str(shared_path("data", "images", "zidane.jpg")))
    assert isinstance(results, list) and results[0].summary() == "2 persons, 1 tie"


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
