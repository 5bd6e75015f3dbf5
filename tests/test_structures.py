"""Results: summary, plot, save, save_txt, save_crop, to_json, to_coco."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from yoloarena import Results


def make_results(img: np.ndarray | None = None) -> Results:
    boxes = torch.tensor([[10.0, 20.0, 110.0, 220.0], [50.5, 60.25, 70.0, 80.0], [0, 0, 30, 30]])
    return Results(
        boxes, torch.tensor([0.9, 0.456789, 0.3]), torch.tensor([0, 2, 0]),
        {0: "person", 1: "car", 2: "tie"}, (240, 320), path="dir/img.jpg", orig_img=img,
        speed={"inference": 12.5},
    )  # fmt: skip


def test_summary_and_repr() -> None:
    r = make_results()
    assert len(r) == 3 and r.summary() == "2 persons, 1 tie"
    assert repr(r) == "Results(dir/img.jpg: 240x320 2 persons, 1 tie)"
    assert "inference 12.5ms" in r.verbose()
    empty = Results(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), {}, (10, 10))
    assert empty.summary() == "(no detections)" and empty.to_list() == []


def test_plot_draws_on_a_copy(tmp_path) -> None:
    img = np.zeros((240, 320, 3), np.uint8)
    r = make_results(img)
    out = r.plot()
    assert out.shape == img.shape and out.dtype == np.uint8
    assert img.sum() == 0 and out.sum() > 0  # the original is untouched
    assert (out[20, 10:110] > 0).any()  # top edge of the first box is drawn
    path = r.save(tmp_path / "a" / "x.png")
    assert path.is_file()
    with pytest.raises(OSError, match=r"cannot write .*x.unknownsuffix.*cannot encode"):
        r.save(tmp_path / "x.unknownsuffix")


def test_save_txt_normalised_with_conf(tmp_path) -> None:
    path = make_results().save_txt(tmp_path / "l.txt", conf=True)
    first = [float(v) for v in path.read_text().splitlines()[0].split()]
    assert first == pytest.approx([0, 60 / 320, 120 / 240, 100 / 320, 200 / 240, 0.9], abs=1e-6)
    plain = make_results().save_txt(tmp_path / "m.txt")
    assert len(plain.read_text().splitlines()[1].split()) == 5


def test_save_crop(tmp_path) -> None:
    img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    written = make_results(img).save_crop(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "person/img.jpg", "person/img_1.jpg", "tie/img.jpg"]  # fmt: skip
    with pytest.raises(ValueError, match="orig_img"):
        make_results().save_crop(tmp_path)


def test_json_and_coco() -> None:
    r = make_results()
    rows = json.loads(r.to_json())
    assert rows[1] == {"class": 2, "name": "tie", "confidence": 0.45679,
                       "box": {"x1": 50.5, "y1": 60.25, "x2": 70.0, "y2": 80.0}}  # fmt: skip
    coco = r.to_coco(image_id=42, category_ids={0: 1, 2: 32})
    assert coco[1] == {"image_id": 42, "category_id": 32, "bbox": [50.5, 60.25, 19.5, 19.75],
                       "score": 0.45679}  # fmt: skip
    assert r.to_coco("x")[0]["category_id"] == 0
