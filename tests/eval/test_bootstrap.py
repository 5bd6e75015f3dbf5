"""Issue 19, must-show 2: the paired bootstrap over validation images.

The records replay COCO's matching once per model; with every image drawn once they give the
evaluator's AP (faster-coco-eval, pycocotools and the shared pycocotools fixtures), and with images
drawn several times the AP of the physically duplicated dataset scored by faster-coco-eval."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json

import numpy as np
import pytest
from conftest import require, shared_json, shared_path

from yoloarena.eval.bootstrap import (
    NO_DIFFERENCE,
    ClassifyRecords,
    _coco_ap,
    _compile,
    bootstrap,
    coco_records,
    resample_counts,
)
from yoloarena.eval.coco import evaluate_coco

KEYS = ("AP", "AP50", "AP75")


def _gt() -> dict:
    path = shared_path("data", "coco128", "annotations", "instances_train2017_from_yolo.json")
    return json.loads(path.read_text())


@functools.cache
def _official() -> tuple[dict, list[dict]]:
    """coco128 and the official yolov5n predictions on it (conf 0.001, as val.py writes them)."""
    path = shared_path("reference", "yolov5n_coco128_val_predictions.json.gz")
    with gzip.open(path) as f:
        return _gt(), json.load(f)


@functools.cache
def _official_records(n_images: int = 128):
    gt, preds = _official()
    ids = sorted(im["id"] for im in gt["images"])[:n_images]
    return coco_records(gt, preds, ids)


def _jittered(preds: list[dict], frac: float, seed: int = 0) -> list[dict]:
    """The same detections with every box corner moved by about frac of the box size."""
    rng = np.random.default_rng(seed)
    out = []
    for d in preds:
        x, y, w, h = d["bbox"]
        dx, dy, dw, dh = rng.normal(0, frac, 4) * [w, h, w, h]
        out.append({**d, "bbox": [x + dx, y + dy, max(w + dw, 1.0), max(h + dh, 1.0)]})
    return out


def _point(records, counts=None) -> dict[str, float]:
    n = len(records.image_ids)
    counts = np.ones((1, n)) if counts is None else counts[None].astype(np.float64)
    return {k: float(v[0]) for k, v in _coco_ap(_compile(records), counts).items()}


def test_identity_resample_is_the_evaluators_ap_on_coco128() -> None:
    gt, preds = _official()
    require("pycocotools", "the reference COCO evaluator")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ours = _point(_official_records())
    fast = evaluate_coco(gt, preds).stats
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(json.dumps(gt))
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes([dict(d) for d in preds]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for i, k in enumerate(KEYS):
        print(f"coco128 yolov5n {k}: ours {ours[k]:.12f} faster-coco-eval {fast[k]:.12f} "
              f"pycocotools {ev.stats[i]:.12f}")  # fmt: skip
        assert abs(ours[k] - fast[k]) <= 1e-9, k
        assert abs(ours[k] - ev.stats[i]) <= 1e-9, k
    assert ours["AP"] == pytest.approx(0.3622, abs=1e-4)  # the official val.py figure
    kept = evaluate_coco(gt, preds, records=True).records  # what validate(records=True) keeps
    for k, v in vars(_official_records()).items():
        assert np.array_equal(getattr(kept, k), v), k


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_identity_resample_on_the_crowd_fixture(iou_type: str) -> None:
    """val2014 fake-100 results: crowd regions, many classes; pycocotools stats in the fixture."""
    name = f"expected_{iou_type}_stats.json"
    case = shared_json("reference", "cocoeval", name)["fixtures"][f"val2014_fake100_{iou_type}"]
    folder = shared_path("reference", "cocoeval")
    gt = json.loads((folder / case["gt"]).read_text())
    assert any(a.get("iscrowd") for a in gt["annotations"])  # the ignore rules are exercised
    recs = coco_records(gt, folder / case["dt"], iou_type=iou_type)
    prefix = "mask_" if iou_type == "segm" else ""
    ours = {k.removeprefix(prefix): v for k, v in _point(recs).items()}
    fast = evaluate_coco(gt, folder / case["dt"], iou_type=iou_type).stats
    for k in KEYS:
        assert abs(ours[k] - fast[k]) <= 1e-9, k
        assert ours[k] == pytest.approx(case["stats"][k], abs=1e-4 if iou_type == "segm" else 1e-9)
    large = _compile(recs, dense_limit=0)  # the path for large validation sets, same numbers
    counts = resample_counts(len(recs.image_ids), 20, 3).astype(np.float64)
    a, b = _coco_ap(_compile(recs), counts), _coco_ap(large, counts)
    assert all(np.abs(a[k] - b[k]).max() <= 1e-12 for k in a)


def _duplicated(gt: dict, preds: list[dict], counts: np.ndarray) -> tuple[dict, list[dict]]:
    """The dataset with image i present counts[i] times (new ids, copies next to each other)."""
    ids = sorted(im["id"] for im in gt["images"])
    times = dict(zip(ids, counts.tolist(), strict=True))
    images, anns, dets = [], [], []
    for im in gt["images"]:
        images += [{**im, "id": im["id"] * 100 + c} for c in range(times[im["id"]])]
    for a in gt["annotations"]:
        anns += [{**a, "id": len(anns) + c + 1, "image_id": a["image_id"] * 100 + c}
                 for c in range(times[a["image_id"]])]  # fmt: skip
    for d in preds:
        dets += [{**d, "image_id": d["image_id"] * 100 + c} for c in range(times[d["image_id"]])]
    return {**gt, "images": images, "annotations": anns}, dets


def test_a_resample_is_the_ap_of_the_duplicated_dataset() -> None:
    """Images drawn twice or more count as copies: faster-coco-eval on the dataset with the copies
    gives the same AP (scores made distinct: COCO breaks ties by image order)."""
    gt, preds = _official()
    rng = np.random.default_rng(1)
    preds = [{**d, "score": d["score"] + 1e-7 * rng.random()} for d in preds]
    recs = coco_records(gt, preds)
    for seed in (0, 1):
        counts = resample_counts(len(recs.image_ids), 1, seed)[0]
        ours = _point(recs, counts)
        ref = evaluate_coco(*_duplicated(gt, preds, counts)).stats
        for k in KEYS:
            assert abs(ours[k] - ref[k]) <= 1e-9, (seed, k)


def test_intervals_deterministic_contain_the_point_and_narrow_with_more_images() -> None:
    small, full = _official_records(32), _official_records(128)
    a = bootstrap({"yolov5n": small}, resamples=500, seed=7)
    b = bootstrap({"yolov5n": small}, resamples=500, seed=7)
    c = bootstrap({"yolov5n": small}, resamples=500, seed=8)
    big = bootstrap({"yolov5n": full}, resamples=500, seed=7)
    widths = {}
    for k in KEYS:
        assert a.interval("yolov5n", k) == b.interval("yolov5n", k)  # the same seed
        assert a.interval("yolov5n", k) != c.interval("yolov5n", k)
        for r in (a, big):
            lo, hi = r.interval("yolov5n", k)
            assert lo < r.point["yolov5n"][k] < hi
        widths[k] = (np.subtract(*a.interval("yolov5n", k)[::-1]),
                     np.subtract(*big.interval("yolov5n", k)[::-1]))  # fmt: skip
        print(
            f"{k}: 32 images {a.point['yolov5n'][k]:.4f} {a.interval('yolov5n', k)}; "
            f"128 images {big.point['yolov5n'][k]:.4f} {big.interval('yolov5n', k)}"
        )
        assert widths[k][1] < 0.8 * widths[k][0]  # about 1/2 expected (4x the images)


def test_identical_models_no_significant_difference() -> None:
    recs = _official_records()
    r = bootstrap({"a": recs, "b": recs}, resamples=300, seed=0)
    diff, lo, hi = r.difference("a", "b", "AP")
    assert diff == lo == hi == 0.0
    assert NO_DIFFERENCE in r.verdict("AP") and "better" not in r.verdict("AP")


def test_clearly_better_model_is_called_better() -> None:
    gt, preds = _official()
    jittered = coco_records(gt, _jittered(preds, 0.12))
    r = bootstrap({"jittered": jittered, "official": _official_records()}, resamples=500, seed=0)
    diff, lo, hi = r.difference("official", "jittered", "AP")
    print(f"official - jittered AP {diff:+.4f} [{lo:+.4f}, {hi:+.4f}]; {r.verdict('AP')}")
    assert lo > 0
    assert r.verdict("AP").startswith("official is better than jittered")
    # slightly jittered boxes: AP50 hardly moves, no verdict there
    light = coco_records(gt, _jittered(preds, 0.005, seed=1))
    r = bootstrap({"light": light, "official": _official_records()}, resamples=500, seed=0)
    assert NO_DIFFERENCE in r.verdict("AP50")


def test_classification_bootstrap() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(400)
    good = ClassifyRecords(truth < 0.8, truth < 0.95)  # top-1 80 %
    same = ClassifyRecords(truth < 0.8, truth < 0.95)
    worse = ClassifyRecords(truth < 0.6, truth < 0.9)
    r = bootstrap({"good": good, "same": same, "worse": worse}, resamples=1000, seed=0)
    assert r.point["good"]["top1"] == pytest.approx(float(np.mean(truth < 0.8)), abs=1e-12)
    lo, hi = r.interval("good", "top1")
    p = r.point["good"]["top1"]
    half = 1.96 * np.sqrt(p * (1 - p) / 400)  # the normal approximation of a proportion
    assert lo < p < hi and (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert NO_DIFFERENCE in r.verdict("top1")  # good and same share the top
    r = bootstrap({"good": good, "worse": worse}, resamples=1000, seed=0)
    assert r.verdict("top1").startswith("good is better than worse")
    with pytest.raises(ValueError, match="different numbers of images"):
        bootstrap({"good": good, "short": ClassifyRecords(truth[:10] < 0.5, truth[:10] < 0.9)})


def test_verdict_keeps_the_digits_of_a_bound_near_zero() -> None:
    from yoloarena.eval.bootstrap import BootstrapResult

    samples = {"a": {"AP": np.r_[np.full(10, 2e-5), np.linspace(1e-3, 3e-3, 91)]},
               "b": {"AP": np.zeros(101)}}  # fmt: skip
    r = BootstrapResult({"a": {"AP": 1e-3}, "b": {"AP": 0.0}}, samples, 101, 0)
    lo, hi = r.difference("a", "b", "AP")[1:]
    assert 0 < lo < 5e-5 and r.verdict("AP").startswith("a is better than b")
    assert f"[{lo:+.1e}, {hi:+.4f}]" in r.verdict("AP")
