"""Issue 16: classifiers through the engine and the CLI: train (checkpoints, results.csv, resume
continuing exactly), val (results.json, per-class accuracy, confusion_matrix.png), predict
(printed like upstream's classify/predict.py, annotated images, predictions.json), and the
yoloarena.load facade inferring the task from the model."""

from __future__ import annotations

import csv
import functools
import json
import tempfile
from pathlib import Path

import torch

import yoloarena
from yoloarena.cli import main
from yoloarena.data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic
from yoloarena.engine.checkpoint import load_checkpoint
from yoloarena.weights import save_weights


@functools.cache
def tiny() -> Path:
    spec = ClassifySynthSpec(n_train=6, n_val=3, imgsz=40, classes=3, seed=4)
    return make_classify_synthetic(Path(tempfile.mkdtemp(prefix="yoloarena-cls-tiny-")), spec)


def train_args(project: Path, name: str, epochs: int, extra: tuple = ()) -> list[str]:
    return ["train", "model=yolov5n-cls", f"data={tiny()}", f"epochs={epochs}", "imgsz=32",
            "batch=6", "workers=0", "seed=3", f"project={project}", f"name={name}",
            *extra]  # fmt: skip


def rows(run: Path) -> list[dict]:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))


def test_train_writes_run_and_resume_continues_exactly(tmp_path) -> None:
    assert main(train_args(tmp_path, "full", 2)) == 0
    full = next(tmp_path.rglob("full/weights/last.pt")).parents[1]
    got = rows(full)
    assert len(got) == 2
    assert {"train/loss", "metrics/top1", "metrics/top5", "metrics/val_loss"} <= set(got[0])
    assert (full / "weights" / "best.pt").is_file() and (full / "train_batch0.jpg").is_file()
    assert float(got[0]["lr/pg0"]) == 0.001  # the classify recipe: Adam at 1e-3, linear decay
    assert float(got[1]["lr/pg0"]) == (1 - 1 / 2) * (1 - 0.01) * 0.001 + 0.01 * 0.001
    ckpt = load_checkpoint(full / "weights" / "last.pt")
    assert ckpt["model_name"] == "yolov5n-cls" and ckpt["names"] == {0: "circle", 1: "square",
                                                                    2: "triangle"}  # fmt: skip
    assert main(train_args(tmp_path, "part", 1)) == 0
    part = next(tmp_path.rglob("part/weights/last.pt"))
    assert main(["train", f"resume={part}", "epochs=2"]) == 0
    resumed = load_checkpoint(part)
    assert len(rows(part.parents[1])) == 2
    for key, value in ckpt["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key


def test_val_writes_metrics_and_confusion(tmp_path) -> None:
    model = yoloarena.load("yolov5n-cls", num_classes=3)
    weights = save_weights(model.model, tmp_path / "w.pt")
    assert main(["val", f"model={weights}", f"data={tiny()}", "imgsz=32", "batch=4",
                 "workers=0", f"project={tmp_path}"]) == 0  # fmt: skip
    results = next(tmp_path.rglob("results.json"))
    data = json.loads(results.read_text())
    assert data["images"] == 9 and 0 <= data["top1"] <= data["top5"] == 1.0  # 3 classes
    assert [c["name"] for c in data["per_class"]] == ["circle", "square", "triangle"]
    assert sum(map(sum, data["confusion"])) == 9
    assert results.with_name("confusion_matrix.png").is_file()


def test_predict_prints_top5_and_saves(tmp_path, capsys) -> None:
    source = tiny() / "val" / "square"
    assert main(["predict", "model=yolov5n-cls", f"source={source}", "imgsz=64",
                 f"project={tmp_path}", "save_txt=True"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ".jpg: 64x64 " in ln]
    assert len(lines) == 3, err
    first = lines[0].split(": 64x64 ", 1)[1]
    assert first.count(",") >= 5  # top 5 "name p" pairs, then the speed
    records = json.loads(next(tmp_path.rglob("predictions.json")).read_text())
    assert len(records) == 3 and len(records[0]["detections"]) == 5
    assert set(records[0]["detections"][0]) == {"class", "name", "confidence"}
    labels = sorted(tmp_path.rglob("labels/*.txt"))
    assert len(labels) == 3 and len(labels[0].read_text().splitlines()) == 5
    assert len(list(tmp_path.rglob("*.jpg"))) == 3  # annotated images


def test_facade_infers_the_task(tmp_path) -> None:
    model = yoloarena.load("damoyolo-t-cls", num_classes=3)
    assert model.task == "classify" and "task=classify" in repr(model)
    results = model.predict(f"{tiny()}/val/*/*.jpg", imgsz=32)
    assert len(results) == 9 and all(r.probs is not None for r in results)
    hub = model(results[0].orig_img[..., ::-1], size=32)  # the torch.hub call: RGB arrays
    assert hub[0].probs.top5 == results[0].probs.top5
    run = model.train(data=str(tiny()), epochs=1, imgsz=32, batch=6, workers=0,
                      project=str(tmp_path), plots=False)  # fmt: skip
    assert (run / "weights" / "best.pt").is_file() and model.source.endswith("best.pt")
    path = model.export("onnx", imgsz=32, file=tmp_path / "m")
    ref = model.predict(f"{tiny()}/val/*/*.jpg", imgsz=32)
    got = yoloarena.load(path).predict(f"{tiny()}/val/*/*.jpg")
    assert [r.probs.top1 for r in got] == [r.probs.top1 for r in ref]
