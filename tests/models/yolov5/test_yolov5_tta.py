"""Issue 14, must-show 4: augment=True with the official yolov5n.pt reproduces the official v7.0
detect path with test-time augmentation (shared/reference/yolov5n_tta_detections.json)."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_json, shared_path

from yoloarena.data.images import read_image
from yoloarena.models.augment import scale_input


@pytest.mark.parametrize("mode", ["plain", "augment"])
@pytest.mark.parametrize("image", ["bus.jpg", "zidane.jpg"])
def test_tta_matches_official(yolov5n_fused, image, mode) -> None:
    want = shared_json("reference", "yolov5n_tta_detections.json")["results"][image][mode]
    net = yolov5n_fused.model
    path = shared_path("data", "images", image)
    x, _ = net.transform([read_image(path)], 640)
    assert list(x.shape) == want["input_shape"]
    with torch.inference_mode():
        out = net.forward_augment(x) if mode == "augment" else net(x)
    assert out.boxes.shape[1] == want["n_pred_rows"]  # rows entering NMS, merged
    (r,) = yolov5n_fused.predict(str(path), augment=mode == "augment")
    dets = want["detections"]
    assert r.labels.tolist() == [d["cls"] for d in dets]
    ref_boxes = torch.tensor([d["xyxy_raw"] for d in dets])
    ref_conf = torch.tensor([d["conf"] for d in dets])
    assert (r.boxes - ref_boxes).abs().max() <= 1.0
    assert (r.scores - ref_conf).abs().max() <= 0.005


def test_tta_changes_the_answer(yolov5n_fused) -> None:
    """The fixture's augmented detections differ from the plain ones; so do ours."""
    path = str(shared_path("data", "images", "bus.jpg"))
    (plain,) = yolov5n_fused.predict(path)
    (tta,) = yolov5n_fused.predict(path, augment=True)
    assert (len(plain), len(tta)) == (5, 6) and 36 in tta.labels.tolist()


def test_scale_input_shapes_and_grey() -> None:
    """YOLOv5's scale_img: bilinear to int(side * r), grey pad right/bottom to a stride multiple."""
    x = torch.rand(1, 3, 640, 480)
    y = scale_input(x, 0.83, 32, 0.447)
    assert y.shape[-2:] == (544, 416)  # ceil(531.2 / 32) * 32, ceil(398.4 / 32) * 32
    assert torch.all(y[..., 531:, :] == 0.447) and torch.all(y[..., :, 398:] == 0.447)
    assert scale_input(x, 1.0, 32, 0.447) is x
