"""Results of segmentation models: masks at the original image size, drawn as overlays, saved
as YOLO-seg polygon rows and as COCO RLE (decoded here by pycocotools, the independent codec)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from conftest import require

from yoloarena.masks import Masks
from yoloarena.ops.letterbox import letterbox
from yoloarena.structures import Results

ORIG = (200, 300)  # h, w of the original image
INPUT = (160, 160)  # the letterboxed network input; prototypes at input / 4


def _scene():
    """Two discs (input pixels), as prototype-resolution probabilities, and their boxes."""
    img = np.full((*ORIG, 3), 60, np.uint8)
    _, info = letterbox(img, INPUT)
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32) + 0.5
    probs, boxes = [], []
    for cx, cy, r in ((12.0, 20.0, 6.0), (28.0, 18.0, 8.0)):  # prototype pixels
        dist = np.hypot(xx - cx, yy - cy)
        probs.append(1 / (1 + np.exp(-(r - dist) * 3)))
        boxes.append([(cx - r - 1) * 4, (cy - r - 1) * 4, (cx + r + 1) * 4, (cy + r + 1) * 4])
    boxes_in = torch.tensor(boxes)
    sx, sy = info.scale_xy
    boxes_orig = (boxes_in - torch.tensor(info.pad_xy * 2)) / torch.tensor([sx, sy, sx, sy])
    masks = Masks(torch.from_numpy(np.stack(probs)), boxes_in, info, ORIG)
    results = Results(boxes_orig, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]),
                      {0: "disc", 1: "big disc"}, ORIG, orig_img=img, masks=masks)  # fmt: skip
    return results, info


def _disc(cx: float, cy: float, r: float, info) -> np.ndarray:
    """The disc of prototype pixels (cx, cy, r) drawn at the original size, for comparison."""
    (sx, sy), (px, py) = info.scale_xy, info.pad_xy
    centre = ((cx * 4 - px) / sx, (cy * 4 - py) / sy)  # prototype -> input -> original pixels
    out = np.zeros(ORIG, np.uint8)
    cv2.circle(out, tuple(round(v) for v in centre), round(r * 4 / sx), 1, -1)
    return out.astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_masks_are_at_the_original_size_where_the_objects_are() -> None:
    r, info = _scene()
    data = r.masks.data
    assert data.shape == (2, *ORIG) and data.dtype == torch.bool
    for k, (cx, cy, rad) in enumerate(((12.0, 20.0, 6.0), (28.0, 18.0, 8.0))):
        assert _iou(data[k].numpy(), _disc(cx, cy, rad, info)) > 0.9
    assert r.masks.areas() == data.flatten(1).sum(1).tolist()
    polys = r.masks.xy
    assert all(len(p) >= 8 for p in polys)
    for p, box in zip(polys, r.boxes.tolist(), strict=True):
        assert (p[:, 0] >= box[0] - 1).all() and (p[:, 0] <= box[2] + 1).all()
    assert np.allclose(r.masks.xyn[0], polys[0] / np.array([ORIG[1], ORIG[0]]))


def test_plot_overlays_masks_in_class_colours() -> None:
    r, _ = _scene()
    drawn = r.plot(labels=False)
    inside = r.masks.data[0].numpy()
    shrunk = cv2.erode(inside.astype(np.uint8), np.ones((9, 9))).astype(bool)  # away from edges
    box_lines = np.zeros(ORIG, bool)
    for x1, y1, x2, y2 in r.boxes.round().int().tolist():
        cv2.rectangle(box_lines.view(np.uint8), (x1, y1), (x2, y2), 1, 5)
    outside = ~r.masks.data.any(0).numpy() & ~box_lines
    assert (drawn[shrunk] != 60).any(1).all()  # tinted
    assert (drawn[outside] == 60).all()  # untouched
    assert (r.orig_img == 60).all()  # the original is not drawn on


def test_save_txt_writes_polygons_and_json_rle(tmp_path) -> None:
    mask_api = require("pycocotools.mask", "the independent RLE decoder")
    r, _ = _scene()
    path = r.save_txt(tmp_path / "labels.txt", conf=True)
    rows = [line.split() for line in path.read_text().splitlines()]
    assert [row[0] for row in rows] == ["0", "1"]
    for row, mask, score in zip(rows, r.masks.data.numpy(), (0.9, 0.8), strict=True):
        coords = np.array(row[1:-1], float).reshape(-1, 2)
        assert float(row[-1]) == score and len(coords) >= 8
        assert ((coords >= 0) & (coords <= 1)).all()
        filled = np.zeros(ORIG, np.uint8)
        cv2.fillPoly(filled, [np.round(coords * [ORIG[1], ORIG[0]]).astype(np.int32)], 1)
        assert _iou(filled.astype(bool), mask) > 0.9
    for entry, mask in zip(r.to_coco(7, {0: 11, 1: 12}), r.masks.data.numpy(), strict=True):
        rle = dict(entry["segmentation"], counts=entry["segmentation"]["counts"].encode())
        assert np.array_equal(mask_api.decode(rle).astype(bool), mask)
        assert entry["image_id"] == 7 and entry["category_id"] in (11, 12)
    listed = r.to_list()
    assert [d["segmentation"] for d in listed] == [e["segmentation"] for e in r.to_coco(7)]


def test_empty_masks_write_no_polygon_rows() -> None:
    _, info = _scene()
    empty = Masks(torch.zeros(1, 40, 40), torch.tensor([[10.0, 10.0, 50.0, 50.0]]), info, ORIG)
    r = Results(torch.tensor([[5.0, 5.0, 30.0, 30.0]]), torch.tensor([0.5]), torch.tensor([0]),
                {0: "x"}, ORIG, masks=empty)  # fmt: skip
    assert r.txt_rows() == "" and r.masks.xy[0].shape == (0, 2)
    assert not r.masks.data.any()


def test_hub_detections_render_the_masks() -> None:
    from yoloarena.detections import Detections

    r, _ = _scene()
    dets = Detections([r], ["scene.jpg"], (1, 3, *INPUT), names=r.names)
    rendered = dets.render(labels=False)[0]  # RGB
    inside = cv2.erode(r.masks.data[1].numpy().astype(np.uint8), np.ones((9, 9))).astype(bool)
    assert (rendered[inside] != 60).any(1).all()
