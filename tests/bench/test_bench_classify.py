"""Issue 16: `benchmark` and `compare` accept classifiers: top-1/top-5 in place of AP, latency per
backend, so `yoloarena compare data=<classification set> models=yolov5n-cls,damoyolo-t-cls`
trains, validates, times and reports both."""

from __future__ import annotations

import json
import math

import pytest

from yoloarena.bench.benchmark import BenchmarkConfig, run_benchmark
from yoloarena.cli import main
from yoloarena.data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic
from yoloarena.registry import build_model
from yoloarena.weights import save_weights

pytest.importorskip("onnxruntime", reason="the [export] extra is not installed")


@pytest.mark.slow
def test_compare_classifiers(tmp_path) -> None:
    data = make_classify_synthetic(tmp_path / "shapes", ClassifySynthSpec(4, 2, 40, 3, seed=5))
    args = ["compare", f"data={data}", "models=yolov5n-cls,damoyolo-t-cls", "epochs=1",
            "imgsz=32", "batch=6", "backends=torch,onnx", "runs=2", "samples=2", "workers=0",
            f"project={tmp_path / 'runs'}", "name=cls"]  # fmt: skip
    assert main(args) == 0
    out = next((tmp_path / "runs").rglob("cls/report.md")).parent
    md = (out / "report.md").read_text()
    for text in (
        "# yoloarena compare (classification)",
        "| yolov5n-cls | trained from scratch |",
        "| damoyolo-t-cls | trained from scratch |",
        "## Per-class top-1",
        "top-1",
        "onnx ms (p90)",
    ):
        assert text in md, text  # fmt: skip
    assert (out / "report.html").is_file() and (out / "tradeoff.png").is_file()
    for key in ("yolov5n-cls", "damoyolo-t-cls"):
        result = json.loads((out / "models" / key / "result.json").read_text())
        assert 0 <= result["metrics"]["top1"] <= result["metrics"]["top5"] == 1.0
        assert set(result["latency"]) == {"torch", "onnx"}
        assert all(math.isfinite(v["median_ms"]) for v in result["latency"].values())
        assert (out / "models" / key / "confusion_matrix.png").is_file()
        assert [c["images"] for c in result["per_class"]] == [2, 2, 2]
    # paired bootstrap of top-1 / top-5 over the 6 val images: intervals and the verdict line
    boot = json.loads((out / "bootstrap.json").read_text())
    assert boot["resamples"] == 1000 and boot["images"] == 6
    for key in ("yolov5n-cls", "damoyolo-t-cls"):
        top1 = json.loads((out / "models" / key / "result.json").read_text())["metrics"]["top1"]
        lo, hi = boot["models"][key]["top1"]["interval"]
        assert boot["models"][key]["top1"]["value"] == pytest.approx(top1) and lo <= top1 <= hi
    assert "## Is the difference real?" in md and "Top two, paired bootstrap:" in md
    assert boot["verdicts"][0] in md
    before = (out / "models" / "yolov5n-cls" / "result.json").stat().st_mtime_ns
    assert main(args) == 0  # done models are reused
    assert (out / "models" / "yolov5n-cls" / "result.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_benchmark_scores_classifier_weights(tmp_path) -> None:
    data = make_classify_synthetic(tmp_path / "shapes", ClassifySynthSpec(1, 2, 40, 3, seed=6))
    weights = save_weights(build_model("yolov5n-cls", num_classes=3), tmp_path / "w.pt")
    cfg = BenchmarkConfig(models=[str(weights), "resnet18"], imgsz=32, backends="torch",
                          runs=2, warmup=1, data=str(data), batch=4,
                          project=str(tmp_path / "runs"))  # fmt: skip
    out, rows = run_benchmark(cfg)
    assert rows[0]["metrics"]["top1"] >= 0 and rows[0]["metrics"]["top5"] == 1.0
    assert rows[1]["metrics"] is None  # a registered name has random weights: no accuracy
    md = (out / "results.md").read_text()
    assert "| torch top-1 |" in md and "ImageNet" in md  # published top-1 of resnet18
