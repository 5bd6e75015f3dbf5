"""Issue 13, must-show 2 and 3: the benchmark's stored timing breakdown is consistent (end to end
within 1.3x of model only + pre + post for the exported backends, each timed in its own worker
process) and every row states its input policy; rows measured beside a background load started
here are marked as taken under contention, rows measured with the sampler reading a quiet
machine are not. Small settings (yolov5n at 64-160 px, a few runs); no wall-clock thresholds."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys

import pytest
from conftest import require, shared_path

from yoloarena.bench import load
from yoloarena.bench.benchmark import BenchmarkConfig, run_benchmark
from yoloarena.errors import YoloArenaError

require("onnxruntime", "the [export] extra is not installed")
BUSY_LOOP = "while True: pass"


def _results(out) -> tuple[dict, list[dict], str]:
    payload = json.loads((out / "results.json").read_text())
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    return payload, rows, (out / "results.md").read_text()


@pytest.mark.slow
def test_breakdown_is_consistent_and_states_the_input_policy(tmp_path, monkeypatch) -> None:
    """One thread per runtime: on a machine that other jobs keep busy (CI, the shared dev box)
    multi-threaded pools stall each other and the check below would test the machine, not the
    benchmark. 160 px: at 64 px the network takes 0.4 ms and predict's fixed Python cost
    around it (0.1-0.2 ms) alone would be 1.3x. The check: the network ran inside `predict` as
    fast as alone (post-processing is the rest of each end-to-end call after the network,
    pre-processing predict's own)."""
    require("openvino", "the [export] extra is not installed")
    monkeypatch.setattr(load, "machine_busy_ticks", lambda: 0)  # the sampler reads quiet
    cfg = BenchmarkConfig(models=["yolov5n"], imgsz=160, backends="torch,onnx,openvino", runs=15,
                          warmup=2, threads=1, project=str(tmp_path), name="fair")  # fmt: skip
    out, _ = run_benchmark(cfg)
    payload, flat, md = _results(out)
    lat = payload["models"][0]["latency"]
    assert set(lat) == {"torch", "onnx", "openvino"}
    for b, t in lat.items():
        assert t["input"] == "square 160x160" and t["input_shapes"] == [[160, 160]], b
        assert t["threads"] == 1 and t["runs"] == 15
        assert 0 < t["preprocess_ms"] < t["e2e_median_ms"], (b, t)
        assert 0 < t["nms_ms"] <= t["postprocess_ms"] < t["e2e_median_ms"], (b, t)
        # from the stored calls: each end-to-end call against the model-only time plus that
        # call's own pre- and post-processing (medians: the reported ratio; best calls: the
        # checked one, which the CI's other jobs preempting a call cannot raise, while a network
        # slowed inside predict, in every call, raises it)
        calls = t["samples"]
        assert len(calls["e2e"]) == len(calls["model"]) == 15
        for e, p, i, q in zip(calls["e2e"], calls["pre"], calls["inference"], calls["post"],
                              strict=True):  # fmt: skip
            assert e == pytest.approx(p + i + q, abs=1e-3)  # post: the rest of the call
        ratios = {k: [e / (f(calls["model"]) + p + q) for e, p, q in
                      zip(calls["e2e"], calls["pre"], calls["post"], strict=True)]
                  for k, f in (("median", statistics.median), ("best", min))}  # fmt: skip
        assert t["median_ms"] == pytest.approx(statistics.median(calls["model"]), abs=1e-3)
        assert t["e2e_ratio"] == pytest.approx(statistics.median(ratios["median"]), rel=1e-3)
        assert t["e2e_ratio_best"] == pytest.approx(min(ratios["best"]), rel=1e-3)
        if b != "torch":  # an exported backend: end to end within 1.3x of model + pre + post
            assert min(ratios["best"]) <= 1.3, (b, t)
        assert t["contention"] is False and t["contention_text"].startswith("no (other load 0.00")
        # % of peak: of the measured conv peak, with the matmul's beside it
        assert t["pct_conv_peak"] == pytest.approx(
            100 * t["gflops_s"] / payload["peak"]["conv"]["gflops_s"]
        )
        assert t["pct_matmul_peak"] == pytest.approx(
            100 * t["gflops_s"] / payload["peak"]["matmul"]["gflops_s"])  # fmt: skip
    assert payload["peak"]["conv"]["gflops_s"] > 0 and payload["peak"]["matmul"]["gflops_s"] > 0
    assert payload["load"]["startup_other_cores"] == 0.0
    assert flat[0]["onnx_input"] == flat[0]["openvino_input"] == "square 160x160"
    assert flat[0]["onnx_contention"].startswith("no") and float(flat[0]["onnx_e2e_ratio"]) > 0
    breakdown = md.split("## Timing breakdown per backend")[1]
    assert breakdown.count("| square 160x160 |") == 3 and "3x3 conv 128->128" in md


@pytest.mark.slow
def test_rows_under_a_background_load_are_marked(tmp_path, caplog) -> None:
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(2)]
    try:
        cfg = BenchmarkConfig(models=["yolov5n"], imgsz=64, backends="onnx", runs=3, warmup=1,
                              threads=2, project=str(tmp_path), name="busy")  # fmt: skip
        out, _ = run_benchmark(cfg)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    payload, flat, md = _results(out)
    t = payload["models"][0]["latency"]["onnx"]
    assert t["contention"] is True and t["other_cores"] >= 0.5, t
    assert t["contention_text"].startswith("yes (other load")
    assert payload["models"][0]["contention"] is True
    assert payload["load"]["startup_other_cores"] >= 0.5 and payload["peak"]["contention"]
    assert "the machine is busy: other processes use" in caplog.text  # warned at start-up
    assert flat[0]["onnx_contention"].startswith("yes (other load")
    assert "| yes (other load" in md.split("## Timing breakdown per backend")[1]


@pytest.mark.slow
def test_rect_input_uses_a_dynamic_export_of_the_same_rectangle(tmp_path, monkeypatch) -> None:
    """input=rect: torch and ONNX both see YOLOv5's per-image rectangle of bus.jpg (h x w
    1080 x 810: 128 x 96 at imgsz 128); a fixed-size format is refused by name."""
    from yoloarena.bench import benchmark

    image = shared_path("data", "images", "bus.jpg")
    peak = {"threads": 1, "other_cores": 0.0, "contention": False, "contention_text": "no",
            "conv": {"kernel": "c", "gflops_s": 1.0, "median_ms": 1.0, "runs": 1},
            "matmul": {"kernel": "m", "gflops_s": 1.0, "median_ms": 1.0, "runs": 1}}  # fmt: skip
    monkeypatch.setattr(benchmark, "measure_peak", lambda *a, **k: peak)  # not this test's subject
    cfg = BenchmarkConfig(models=["yolov5n"], imgsz=128, backends="torch,onnx", runs=2, warmup=1,
                          threads=1, input="rect", source=str(image), project=str(tmp_path),
                          name="rect")  # fmt: skip
    out, _ = run_benchmark(cfg)
    lat = json.loads((out / "results.json").read_text())["models"][0]["latency"]
    for b in ("torch", "onnx"):
        assert lat[b]["input"].startswith("rect") and lat[b]["input_shapes"] == [[128, 96]], lat[b]
    with pytest.raises(YoloArenaError, match="input=rect needs a dynamic export; tflite"):
        run_benchmark(BenchmarkConfig(models=["yolov5n"], backends="onnx,tflite", input="rect",
                                      project=str(tmp_path)))  # fmt: skip
