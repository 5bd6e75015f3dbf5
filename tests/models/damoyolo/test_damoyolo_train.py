"""Issue 6, must-show 2 and 4: DAMO-YOLO learns from scratch, distils (across families too), and
resumes exactly after a kill."""

from __future__ import annotations

import csv
import functools
import tempfile
from pathlib import Path

import pytest
import torch
from training import assert_same_weights, kill_when, launch, run_to_end, shapes_dataset, train_args

import yoloarena
from yoloarena.engine.checkpoint import load_checkpoint
from yoloarena.engine.distill import CWDistiller, distill_weight
from yoloarena.engine.train_job import TrainConfig, run_train

# A short from-scratch recipe for the 200-image shapes set: AdamW, light mosaic, no mixup, small
# scale range, one warmup epoch and three closing epochs without augmentation.
SHORT = {"optimizer": "AdamW", "lr0": 0.002, "weight_decay": 0.0005, "warmup_epochs": 1.0,
         "no_aug_epochs": 3, "scale_range": "0.5,1.5", "mixup": 0.0, "mosaic": 0.5,
         "mosaic_size": 0}  # fmt: skip


def rows(run: Path) -> list[dict]:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))


@functools.cache
def trained(model: str) -> Path:
    """Train model from scratch for 20 epochs on the shapes set (once per process)."""
    project = Path(tempfile.mkdtemp(prefix="yoloarena-damo-"))
    cfg = TrainConfig(model=model, data=str(shapes_dataset()), epochs=20, imgsz=160, batch=8,
                      workers=2, project=str(project), name=model, plots=False)  # fmt: skip
    return run_train(cfg, SHORT)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "floor"), [("damoyolo-t", 0.2), ("damoyolo-ns", 0.25)])
def test_damoyolo_learns_shapes_from_scratch(model: str, floor: float) -> None:
    """Measured at 20 epochs (about 3 minutes each): T AP50 0.34, Ns 0.42."""
    run = trained(model)
    last = rows(run)[-1]
    assert float(last["metrics/AP50"]) >= floor, last
    assert float(rows(run)[0]["train/giou"]) > float(last["train/giou"])  # the box loss fell
    assert yoloarena.load(run / "weights" / "best.pt").model_name == model


@pytest.mark.slow
@pytest.mark.parametrize("student", ["yolov5n", "damoyolo-ns"])
def test_distillation_from_a_trained_teacher(tmp_path, student: str) -> None:
    teacher = trained("damoyolo-t") / "weights" / "best.pt"
    cfg = TrainConfig(model=student, data=str(shapes_dataset()), epochs=3, imgsz=160, batch=8,
                      workers=2, project=str(tmp_path), teacher=str(teacher), plots=False,
                      fraction=0.5)  # fmt: skip
    run = run_train(cfg, {"warmup_epochs": 0.0, "mosaic": 0.5})
    table = rows(run)
    weights = [float(r["train/distill_w"]) for r in table]
    nb = 13  # 100 images / batch 8 -> 13 batches per epoch
    expected = [sum(distill_weight(e * nb + i, 3 * nb) for i in range(nb)) / nb for e in range(3)]
    assert weights == pytest.approx(expected, rel=1e-4)  # cosine 1.0 -> 0.1, averaged per epoch
    assert weights[0] > weights[1] > weights[2]
    distill = [float(r["train/distill"]) for r in table]
    assert all(d > 0 for d in distill)
    ckpt = load_checkpoint(run / "weights" / "last.pt")
    assert any(k.startswith("align.") for k in ckpt["train"]["distiller"])


def test_distiller_aligns_channels_and_is_zero_for_equal_maps() -> None:
    distiller = CWDistiller([40, 80], [64, 128])
    s = [torch.randn(2, 40, 8, 8), torch.randn(2, 80, 4, 4)]
    t = [torch.randn(2, 64, 8, 8), torch.randn(2, 128, 4, 4)]
    loss = distiller(s, t)
    loss.backward()
    assert loss.item() > 0 and distiller.align[0].weight.grad is not None
    same = CWDistiller([3], [3])
    with torch.no_grad():
        same.align[0].weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        same.align[0].bias.zero_()
    x = [torch.randn(2, 3, 5, 5)]
    assert same(x, x).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same levels"):
        CWDistiller([1, 2], [1])
    assert distill_weight(0, 100) == 1.0 and distill_weight(100, 100) == pytest.approx(0.1)


@pytest.mark.slow
def test_damoyolo_resumes_to_the_same_weights(tmp_path) -> None:
    project = tmp_path / "runs"

    def args(name: str) -> list[str]:
        return [a.replace("model=yolov5n", "model=damoyolo-ns") for a in train_args(project, name)]

    run_to_end("plain", args("reference"), tmp_path)
    ref = load_checkpoint(project / "reference" / "weights" / "last.pt")
    kill_when(launch("plain", args("killed"), tmp_path), "epoch 2/3 6/12")
    last = project / "killed" / "weights" / "last.pt"
    assert load_checkpoint(last)["train"]["epoch"] == 0
    run_to_end("plain", ["train", f"resume={last}"], tmp_path)
    assert_same_weights(ref, load_checkpoint(last))
