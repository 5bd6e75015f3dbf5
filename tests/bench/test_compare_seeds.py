"""Issue 19: seeds=N trains each model N times with different seeds and reports the spread of its
accuracy; models evaluated as given have one result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yoloarena.bench.compare import CompareConfig, run_compare
from yoloarena.bench.seeds import seed_lines, spread
from yoloarena.data.synthetic import SynthSpec, make_synthetic


def test_spread_and_lines() -> None:
    s = spread([0.1, 0.2, 0.6])
    assert s["mean"] == pytest.approx(0.3)
    assert s["sd"] == pytest.approx(np.std([0.1, 0.2, 0.6], ddof=1))
    assert (s["min"], s["max"], s["n"]) == (0.1, 0.6, 3)
    assert spread([0.4])["sd"] == 0
    rows = [{"model": "a", "seed_runs": [{"seed": 0, "AP": 0.1}, {"seed": 1, "AP": 0.3}]},
            {"model": "b", "seed_runs": [{"seed": 0, "AP": 0.5}]}]  # fmt: skip
    sd = np.std([0.1, 0.3], ddof=1)
    assert seed_lines(rows) == [
        f"- a: AP50-95 over 2 seeds 0.2000 ± {sd:.4f} (min 0.1000, max 0.3000; seeds 0, 1)"
    ]


@pytest.mark.slow
def test_compare_trains_each_model_with_several_seeds(tmp_path) -> None:
    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=8, n_val=4, imgsz=64, classes=2))
    cfg = CompareConfig(data=str(data), models=["yolov5n"], epochs=1, imgsz=64, batch=4,
                        hyp="short", backends="torch", runs=1, samples=0, workers=0, seed=3,
                        seeds=2, project=str(tmp_path / "runs"))  # fmt: skip
    out = run_compare(cfg)
    result = json.loads((out / "models" / "yolov5n" / "result.json").read_text())
    runs = result["seed_runs"]
    assert [r["seed"] for r in runs] == [3, 4] and runs[0]["AP"] == result["metrics"]["AP"]
    assert (out / "train" / "yolov5n-seed4" / "weights" / "best.pt").is_file()
    with (out / "train" / "yolov5n-seed4" / "args.yaml").open() as f:
        assert "seed: 4" in f.read()
    assert "yolov5n: AP50-95 over 2 seeds" in (out / "report.md").read_text()
