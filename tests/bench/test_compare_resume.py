"""Issue 19: a compare interrupted at any point continues where it stopped: inside a training (it
resumes from last.pt, the finished epochs kept), and after the training but before the model's
result is written (the training is reused, only the evaluation is redone)."""

from __future__ import annotations

import csv
import json

import pytest

from yoloarena.bench import compare as compare_mod
from yoloarena.bench.compare import CompareConfig, run_compare
from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine import train_job
from yoloarena.engine.trainer import Trainer


def _rows(run) -> list[dict]:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_compare_continues_after_interruptions(tmp_path, monkeypatch, capsys) -> None:
    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2))
    cfg = CompareConfig(data=str(data), models=["yolov5n"], epochs=2, imgsz=64, batch=4,
                        hyp="short", backends="torch", runs=1, samples=1, workers=0,
                        project=str(tmp_path / "runs"))  # fmt: skip
    real_save = Trainer._save

    def save_then_stop(self, epoch, improved, finished):
        real_save(self, epoch, improved, finished)
        if epoch == 0:
            raise KeyboardInterrupt  # Ctrl-C right after the first epoch is committed

    monkeypatch.setattr(Trainer, "_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_compare(cfg)
    run = tmp_path / "runs" / "exp" / "train" / "yolov5n"
    first = _rows(run)
    assert len(first) == 1 and not (tmp_path / "runs" / "exp" / "models" / "yolov5n" /
                                    "result.json").exists()  # fmt: skip

    monkeypatch.setattr(Trainer, "_save", real_save)
    calls = []
    real_eval = compare_mod._evaluate

    def evaluate_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # interrupted while validating and timing
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(compare_mod, "_evaluate", evaluate_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_compare(cfg)
    rows = _rows(run)
    assert len(rows) == 2 and rows[0] == first[0]  # resumed: epoch 1 kept, epoch 2 trained

    trainings = []
    real_train = train_job.run_train
    monkeypatch.setattr(train_job, "run_train", lambda *a, **k: trainings.append(1) or
                        real_train(*a, **k))  # fmt: skip
    out = run_compare(cfg)
    assert trainings == [] and len(calls) == 2  # the training reused, the evaluation redone
    result = json.loads((out / "models" / "yolov5n" / "result.json").read_text())
    assert result["origin"]["how"] == "scratch" and result["trained"]
    assert "| yolov5n | trained from scratch |" in (out / "report.md").read_text()

    # budgets on the kept results (no retraining, no re-evaluation): the report's verdict, the
    # console, and the chart
    from dataclasses import replace

    run_compare(replace(cfg, budget_ms=1e-3))
    assert "no model meets it" in (out / "report.md").read_text()
    assert "Budget 0.001 ms on torch: no model meets it" in capsys.readouterr().out
    run_compare(replace(cfg, budget_ms=1e5))
    assert "Best under 100000 ms on torch: **yolov5n**" in (out / "report.md").read_text()
    assert len(calls) == 2 and trainings == []
