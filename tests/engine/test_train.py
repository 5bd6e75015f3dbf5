"""Issue 5, must-show 2 and 3: learning, fine-tuning, crash safety and exact resume."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import _coco128, require, shared_path
from training import epochs_logged, last_row, shapes_dataset

import yoloarena
from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine.checkpoint import load_checkpoint
from yoloarena.engine.train_job import TrainConfig, latest_unfinished, run_train
from yoloarena.engine.trainer import TrainingDiverged
from yoloarena.errors import UnknownNameError, YoloArenaError

# A short from-scratch recipe for a tiny dataset: step every batch, AdamW, lighter augmentation.
SHORT_RECIPE = {"optimizer": "AdamW", "lr0": 0.003, "nbs": 8, "warmup_epochs": 1.0,
                "scale": 0.25, "mosaic": 0.5}  # fmt: skip


@pytest.mark.slow
def test_yolov5n_learns_shapes_from_scratch(tmp_path) -> None:
    """Measured: AP50 0.78 after 40 epochs with 2 threads (2 min on 2 quiet cores), 0.489 with
    the 1 thread the thread policy gives it beside a busy core (a from-scratch run on 200 images
    depends on the reduction order); the floor is 0.4."""
    cfg = TrainConfig(model="yolov5n", data=str(shapes_dataset()), epochs=40, imgsz=160, batch=8,
                      workers=2, project=str(tmp_path), name="learn", plots=True)  # fmt: skip
    run = run_train(cfg, SHORT_RECIPE)
    row = last_row(run)
    assert float(row["metrics/AP50"]) >= 0.4, row
    for name in (
        "args.yaml",
        "hyp.yaml",
        "results.csv",
        "results.png",
        "labels.jpg",
        "train_batch0.jpg",
    ):
        assert (run / name).is_file(), name
    model = yoloarena.load(run / "weights" / "best.pt")
    assert model.names == {0: "circle", 1: "square", 2: "triangle"}
    img = shapes_dataset().parent / "images" / "val" / "val_00000.jpg"
    assert len(model.predict(img, conf=0.25)[0]) > 0


@pytest.mark.slow
def test_finetune_official_yolov5n_keeps_its_ap(tmp_path, yolov5n_fused) -> None:
    from yoloarena.engine.validator import validate

    data = shared_path("data", "coco128", "coco128.yaml")

    before = validate(yolov5n_fused, _coco128("yolo"), imgsz=320, batch=32).metrics.stats["AP50"]
    weights = str(shared_path("data", "weights", "yolov5n.pt"))
    cfg = TrainConfig(model=weights, data=str(data), epochs=1, imgsz=320, batch=16, workers=2,
                      project=str(tmp_path), plots=False)  # fmt: skip
    after = float(last_row(run_train(cfg))["metrics/AP50"])
    assert after >= 0.85 * before, (before, after)


def test_finetune_to_other_classes_reports_skipped_keys(tmp_path, caplog) -> None:
    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2))
    weights = str(shared_path("data", "weights", "yolov5n.pt"))
    cfg = TrainConfig(model=weights, data=str(data), epochs=1, imgsz=64, batch=4, workers=0,
                      project=str(tmp_path), plots=False)  # fmt: skip
    with caplog.at_level("INFO", logger="yoloarena"):
        run = run_train(cfg)
    assert "343 of 349 tensors loaded" in caplog.text
    assert "model.24.m.0.weight" in caplog.text and "2 classes instead of 80" in caplog.text
    assert yoloarena.load(run / "weights" / "last.pt").num_classes == 2


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch) -> None:
    from yoloarena.models.yolov5.model import YOLOv5

    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2))
    real = YOLOv5.criterion
    calls = {"n": 0}

    def poisoned(self, output, targets):
        calls["n"] += 1
        loss = real(self, output, targets)
        if calls["n"] > 2:  # epoch 2 (2 batches per epoch)
            loss["total"] = loss["total"] * float("nan")
        return loss

    monkeypatch.setattr(YOLOv5, "criterion", poisoned)
    cfg = TrainConfig(model="yolov5n", data=str(data), epochs=3, imgsz=64, batch=4, workers=0,
                      project=str(tmp_path), name="nan", plots=False)  # fmt: skip
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 2, batch 1"):
        run_train(cfg)
    ckpt = load_checkpoint(tmp_path / "nan" / "weights" / "last.pt")
    assert ckpt["train"]["epoch"] == 0 and not ckpt["train"]["finished"]


def test_unknown_train_argument_suggests() -> None:
    from yoloarena.engine.train_job import parse_train_args

    with pytest.raises(UnknownNameError, match=r"unknown config key 'lr'; did you mean .*'lr0'"):
        parse_train_args({"lr": "0.1"})
    cfg = parse_train_args({"epochs": "5", "mosaic": "0.5", "model": "yolov5s"})
    assert cfg.epochs == 5 and cfg.model == "yolov5s" and cfg.hyp_overrides == {"mosaic": 0.5}


def test_tensorboard_logs_every_epoch(tmp_path) -> None:
    require("tensorboard", "the [log] extra (tensorboard) is not installed")
    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2))
    cfg = TrainConfig(model="damoyolo-ns", data=str(data), epochs=2, imgsz=64, batch=4, workers=0,
                      project=str(tmp_path), name="tb", plots=False, tensorboard=True)  # fmt: skip
    run = run_train(cfg)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run)).Reload()
    assert [e.step for e in events.Scalars("train/qfl")] == [1, 2]
    assert "metrics/AP50" in events.Tags()["scalars"]


def test_without_val_best_is_last_and_no_early_stop(tmp_path) -> None:
    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2))
    cfg = TrainConfig(model="yolov5n", data=str(data), epochs=3, imgsz=64, batch=4, workers=0,
                      project=str(tmp_path), name="noval", plots=False, val=False,
                      patience=1)  # fmt: skip
    run = run_train(cfg)
    best, last = (load_checkpoint(run / "weights" / f"{n}.pt") for n in ("best", "last"))
    assert last["train"]["epoch"] == 2 and last["train"]["finished"]  # patience=1 ignored
    assert best["train"]["epoch"] == 2
    assert all(torch.equal(best["state_dict"][k], v) for k, v in last["state_dict"].items())
    assert epochs_logged(run) == [1, 2, 3]


def _fake_run(project, name: str, finished: bool, mtime: int) -> None:
    path = project / name / "weights" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save({"format": "yoloarena", "train": {"finished": finished}}, path)
    os.utime(path, (mtime, mtime))


def test_resume_true_picks_the_newest_unfinished_run(tmp_path) -> None:
    _fake_run(tmp_path, "old-unfinished", False, 1_000)
    _fake_run(tmp_path, "unfinished", False, 2_000)
    _fake_run(tmp_path, "newest-finished", True, 3_000)
    found = latest_unfinished(tmp_path)
    assert found == tmp_path / "unfinished" / "weights" / "last.pt"
    found.unlink()
    (tmp_path / "old-unfinished" / "weights" / "last.pt").unlink()
    with pytest.raises(YoloArenaError, match=r"no unfinished run .*newest-finished.* epochs=N"):
        latest_unfinished(tmp_path)
