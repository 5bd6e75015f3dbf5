"""`benchmark` and `compare` take segmentation models and report box and mask AP (each backend's
file scored with its own masks)."""

from __future__ import annotations

import csv
import json
import signal

import pytest
from training import seg_shapes_dataset, trained_seg_run

from yoloarena.cli import main


@pytest.mark.slow
def test_benchmark_and_compare_report_mask_ap(tmp_path) -> None:
    weights = trained_seg_run() / "weights" / "best.pt"
    # training took the DataLoader's SIGCHLD handler down with its workers (yoloarena/children.py)
    assert "_set_SIGCHLD_handler" not in getattr(
        signal.getsignal(signal.SIGCHLD), "__qualname__", ""
    )
    data = seg_shapes_dataset()
    args = ["benchmark", f"models={weights}", f"data={data}", "imgsz=128", "runs=2", "warmup=1",
            "backends=torch,onnx", f"project={tmp_path}", "name=b"]  # fmt: skip
    assert main(args) == 0
    with (tmp_path / "b" / "results.csv").open() as f:
        row = next(csv.DictReader(f))
    assert float(row["torch_mask_AP50"]) > 0.3 and float(row["torch_AP50"]) > 0.3
    assert abs(float(row["onnx_mask_AP"]) - float(row["torch_mask_AP"])) < 2e-3
    table = (tmp_path / "b" / "results.md").read_text()
    assert "torch mask AP50-95" in table and "onnx mask AP50-95" in table

    args = ["compare", f"data={data}", f"models={weights}", "imgsz=128", "backends=torch",
            "runs=2", "samples=2", f"project={tmp_path}", "name=c"]  # fmt: skip
    assert main(args) == 0
    report = (tmp_path / "c" / "report.md").read_text()
    assert "mask AP50-95" in report
    result = json.loads(next((tmp_path / "c" / "models").glob("*/result.json")).read_text())
    assert result["metrics"]["mask_AP50"] > 0.3
    # the bootstrap resamples the box and the mask records: intervals around both
    boot = json.loads((tmp_path / "c" / "bootstrap.json").read_text())
    (values,) = boot["models"].values()
    for key in ("AP", "mask_AP"):
        lo, hi = values[key]["interval"]
        assert lo <= result["metrics"][key] <= hi
        assert abs(values[key]["value"] - result["metrics"][key]) <= 1e-9  # the evaluator's AP
    lo, hi = values["mask_AP"]["interval"]
    assert "## Is the difference real?" in report
    assert f"{values['mask_AP']['value']:.4f} [{lo:.4f}, {hi:.4f}]" in report
