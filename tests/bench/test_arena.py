"""Issue 8: benchmark, compare (report, resume) and the synthetic generator."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from pathlib import Path

import pytest
from conftest import require, shared_json

from yoloarena.bench.benchmark import BenchmarkConfig, run_benchmark
from yoloarena.bench.compare import CompareConfig, run_compare
from yoloarena.data.synthetic import SynthSpec, make_synthetic

require("onnxruntime", "the [export] extra is not installed")


def reference_stats(model: str, imgsz: int) -> tuple[int, float]:
    """(params, GFLOPs) of the deployed model from the shared reference measurements of the
    official code (torch FlopCounterMode at 640, convolutions scale with the pixel count)."""
    if model.startswith("yolov5"):
        ref = shared_json("reference", "yolov5_model_stats.json")["models"][model]
        params, gflops_640 = ref["params_fused"], ref["gflops_flopcounter_640_fused"]
    else:
        ref = shared_json("reference", "damoyolo_measurements.json")["models"][model[9:]]
        params, gflops_640 = None, ref["fc_gflops_deploy_640"]  # params: BN folded (below)
    return params, gflops_640 * (imgsz / 640) ** 2


@pytest.mark.slow
def test_benchmark_writes_results_with_reference_params_and_flops(tmp_path) -> None:
    cfg = BenchmarkConfig(models=["yolov5n", "damoyolo-ns"], imgsz=320, backends="torch,onnx",
                          runs=3, warmup=1, project=str(tmp_path))  # fmt: skip
    out, _ = run_benchmark(cfg)
    for name in ("results.md", "results.csv", "results.json", "tradeoff.png", "args.yaml"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    saved = json.loads((out / "results.json").read_text())
    assert saved["environment"]["cpu"] and saved["environment"]["torch"]
    for row in saved["models"]:
        params, gflops = reference_stats(row["model"], 320)
        if params is None:  # DAMO-YOLO: the reference counts BN weights that deploy folds away
            damo = shared_json("reference", "damoyolo_measurements.json")["models"]["ns"]
            assert 0.98 * damo["params_deploy"] < row["params"] < damo["params_deploy"]
        else:
            assert row["params"] == params
        assert row["gflops"] == pytest.approx(gflops, rel=0.005)
        assert set(row["latency"]) == {"torch", "onnx"}
        for lat in row["latency"].values():
            for key in ("median_ms", "p90_ms", "e2e_median_ms", "e2e_p90_ms"):
                assert math.isfinite(lat[key]) and lat[key] > 0, (row["model"], key)
        assert row["published"]["map50_95"] > 0  # published, in its own field
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == ["yolov5n", "damoyolo-ns"]
    md = (out / "results.md").read_text()
    assert "Published figures (not measured here" in md and "onnx ms (p90)" in md


def test_benchmark_rejects_unknown_backend(tmp_path) -> None:
    from yoloarena.errors import YoloArenaError

    with pytest.raises(YoloArenaError, match=r"unknown backend 'onxx'.*'onnx'"):
        run_benchmark(BenchmarkConfig(models=["yolov5n"], backends="torch,onxx",
                                      project=str(tmp_path)))  # fmt: skip


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_synthetic_generator_is_deterministic_and_passes_check(tmp_path) -> None:
    from yoloarena.data.load import load_dataset

    spec = SynthSpec(n_train=12, n_val=6, imgsz=96, classes=4, seed=3)
    a, b = make_synthetic(tmp_path / "a", spec), make_synthetic(tmp_path / "b", spec)
    assert _digest(a.parent) == _digest(b.parent)
    c = make_synthetic(tmp_path / "c", SynthSpec(n_train=12, n_val=6, imgsz=96, classes=4, seed=4))
    assert _digest(c.parent) != _digest(a.parent)
    for split in ("train", "val"):
        ds = load_dataset(a, split)
        assert not ds.report.problems, ds.report.problems
        assert len(ds) == (12 if split == "train" else 6) and len(ds.labels) > len(ds)
        assert ds.report.summary()


@pytest.mark.slow
def test_compare_report_sections_offline_html_and_resume(tmp_path, monkeypatch) -> None:
    data = make_synthetic(tmp_path / "shapes", SynthSpec(n_train=16, n_val=8, imgsz=96, classes=2))
    cfg = CompareConfig(data=str(data), models=["yolov5n", "damoyolo-ns"], epochs=1, imgsz=96,
                        batch=8, hyp="short", runs=2, samples=2, project=str(tmp_path / "runs"),
                        workers=0)  # fmt: skip
    out = run_compare(cfg)
    assert out == tmp_path / "runs" / "exp"  # project=X name=Y: X/Y, training runs inside it
    assert sorted(p.name for p in (out / "train").iterdir()) == ["damoyolo-ns", "yolov5n"]
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    from yoloarena.bench.report import SECTIONS

    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page, section
    for model in ("yolov5n", "damoyolo-ns"):
        assert (out / "models" / model / "result.json").is_file()
        assert md.count(f"models/{model}/samples/") == 2
    # self-contained: no external resources (no http(s) or protocol-relative URLs, no file links)
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//|file:)""", page)
    assert not re.search(r"<(script|link|iframe)", page)
    assert page.count("src='data:image/") >= 2 + 2 * 3  # charts, ground truth, samples
    # resume: delete one model's results; a rerun redoes only that model
    kept = out / "models" / "yolov5n" / "result.json"
    before = kept.stat().st_mtime_ns
    import shutil

    shutil.rmtree(out / "models" / "damoyolo-ns")
    calls = []
    from yoloarena.bench import compare as compare_mod

    real = compare_mod._evaluate

    def spy(spec, *args, **kwargs):
        calls.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(compare_mod, "_evaluate", spy)
    run_compare(cfg)
    assert calls == ["damoyolo-ns"]
    assert kept.stat().st_mtime_ns == before
    assert (out / "models" / "damoyolo-ns" / "result.json").is_file()
