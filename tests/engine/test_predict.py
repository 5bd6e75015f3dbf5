"""Issue 2, must-show 3 (golden detections) and 6 (bad input); every kind of predict source."""

from __future__ import annotations

import logging
import shutil
import types

import cv2
import numpy as np
import pytest
from conftest import shared_json, shared_path
from PIL import Image

from yoloarena.errors import YoloArenaError

IMAGES = ["images/bus.jpg", "images/zidane.jpg"]


@pytest.mark.parametrize("rel", IMAGES)
def test_detections_match_official(rel: str, yolov5n_fused) -> None:
    ref = shared_json("reference", "yolov5n_detections.json")
    expected = ref["results"][rel]
    r = yolov5n_fused.predict(shared_path("data", rel), conf=0.25, iou=0.45, max_det=1000)[0]
    assert r.orig_shape == tuple(expected["orig_shape_hw"])
    dets = expected["detections"]
    assert r.labels.tolist() == [d["cls"] for d in dets]  # same classes, count and order
    for d, (box, score, _) in zip(dets, r.rows(), strict=True):
        assert box == pytest.approx(d["xyxy_unrounded"], abs=1.0)
        assert [round(v) for v in box] == pytest.approx(d["xyxy"], abs=1.0)
        assert score == pytest.approx(d["conf"], abs=0.005)
        assert r.names[d["cls"]] == d["name"]


def test_unfused_and_fused_agree(yolov5n_official, yolov5n_fused) -> None:
    path = shared_path("data", "images", "zidane.jpg")
    a, b = yolov5n_official.predict(path)[0], yolov5n_fused.predict(path)[0]
    assert a.labels.tolist() == b.labels.tolist()
    assert np.allclose(a.boxes, b.boxes, atol=0.05) and np.allclose(a.scores, b.scores, atol=1e-4)


def _summary(results) -> list[tuple]:
    return [(r.labels.tolist(), np.round(r.boxes.numpy(), 1).tolist()) for r in results]


def test_sources_folder_glob_list_array_pil(yolov5n_fused) -> None:
    folder = shared_path("data", "images")
    files = sorted(folder.glob("*.jpg"))
    by_file = yolov5n_fused.predict([str(f) for f in files])
    assert [r.path for r in by_file] == [str(f) for f in files]
    assert _summary(yolov5n_fused.predict(folder)) == _summary(by_file)
    assert _summary(yolov5n_fused.predict(str(folder / "*.jpg"))) == _summary(by_file)
    bgr = cv2.imread(str(files[0]))
    assert _summary(yolov5n_fused.predict(bgr)) == _summary(by_file[:1])
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    assert _summary(yolov5n_fused.predict(rgb, rgb=True)) == _summary(by_file[:1])
    assert _summary(yolov5n_fused.predict(Image.open(files[0]))) == _summary(by_file[:1])
    batched = yolov5n_fused.predict([files[0], files[0]], batch=2)  # one forward, batch 2
    assert _summary(batched) == _summary(by_file[:1]) * 2
    assert yolov5n_fused(str(files[0]))[0].labels.tolist() == by_file[0].labels.tolist()


def test_txt_list_source(tmp_path, yolov5n_fused) -> None:
    bus = shared_path("data", "images", "bus.jpg")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{bus}\n\n{bus}\n")
    assert len(yolov5n_fused.predict(listing)) == 2


def test_video_streams_frame_by_frame(tmp_path, yolov5n_fused) -> None:
    img = cv2.resize(cv2.imread(str(shared_path("data", "images", "zidane.jpg"))), (320, 192))
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 192))
    for i in range(6):
        writer.write(np.roll(img, 8 * i, axis=1))
    writer.release()
    stream = yolov5n_fused.predict(path, stream=True, imgsz=320)
    assert isinstance(stream, types.GeneratorType)  # lazy: nothing decoded yet
    first = next(stream)
    assert first.frame == 0 and first.orig_shape == (192, 320)
    rest = list(stream)
    assert [r.frame for r in rest] == [1, 2, 3, 4, 5]
    assert all(len(r) > 0 for r in [first, *rest])
    strided = yolov5n_fused.predict(path, vid_stride=2, imgsz=320)
    assert [r.frame for r in strided] == [0, 2, 4]


def test_bad_images_are_skipped_with_a_warning(tmp_path, caplog, yolov5n_fused) -> None:
    shutil.copy(shared_path("data", "images", "bus.jpg"), tmp_path / "good.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    with caplog.at_level(logging.WARNING, logger="yoloarena"):
        results = yolov5n_fused.predict(tmp_path)
    assert [r.path for r in results] == [str(tmp_path / "good.jpg")]
    assert len(results[0]) == 5
    text = caplog.text
    assert "empty.jpg: empty file (0 bytes)" in text
    assert "corrupt.jpg: cannot be decoded" in text


def test_missing_source_is_a_clear_error(tmp_path, yolov5n_fused) -> None:
    with pytest.raises(YoloArenaError, match="not found"):
        yolov5n_fused.predict(tmp_path / "nope.jpg")
    with pytest.raises(YoloArenaError, match="matches no files"):
        yolov5n_fused.predict(str(tmp_path / "*.png"))
    with pytest.raises(YoloArenaError, match="not supported"):
        yolov5n_fused.predict(12345)


def test_gray_and_rgba_arrays(yolov5n_fused) -> None:
    bgr = cv2.imread(str(shared_path("data", "images", "bus.jpg")))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    assert yolov5n_fused.predict(gray)[0].orig_shape == bgr.shape[:2]
    assert _summary(yolov5n_fused.predict(bgra)) == _summary(yolov5n_fused.predict(bgr))
