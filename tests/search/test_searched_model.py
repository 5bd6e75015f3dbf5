"""Issue 18, must-show 5: a searched structure is a model like the others: it trains (one epoch
on the synthetic shapes), exports to ONNX with parity, and appears in `benchmark`."""

from __future__ import annotations

import logging

import pytest
import torch
from training import shapes_dataset

from yoloarena.bench.benchmark import BenchmarkConfig, run_benchmark
from yoloarena.engine.train_job import TrainConfig, run_train
from yoloarena.export import export_model, load_exported
from yoloarena.loading import load_model
from yoloarena.models.damoyolo.space import SearchSpace
from yoloarena.models.damoyolo.structure import read_structure
from yoloarena.search import SearchConfig, run_search


@pytest.mark.slow
def test_searched_structure_trains_exports_and_benchmarks(tmp_path, caplog) -> None:
    out, _ = run_search(SearchConfig(budget_gflops=12.0, iterations=300, population=16,
                                     released=[], project=str(tmp_path), name="s",
                                     plots=False))  # fmt: skip
    structure = out / "structure.yaml"
    st, neck = read_structure(structure)
    assert st != SearchSpace("k1kx").initial() and neck == "damoyolo-t"
    with caplog.at_level(logging.INFO, logger="yoloarena"):
        cfg = TrainConfig(model=str(structure), data=str(shapes_dataset()), epochs=1, imgsz=64,
                          batch=8, workers=0, fraction=0.25, plots=False, val=False,
                          project=str(tmp_path), name="train")  # fmt: skip
        run = run_train(cfg, {"warmup_epochs": 0.0, "mosaic": 0.0})
    assert "neck, head and training recipe of damoyolo-t (named in the file)" in caplog.text
    weights = run / "weights" / "last.pt"
    model = load_model(weights)
    assert model.model_name == "damoyolo-nas" and model.structure == st
    assert model.num_classes == 3 and model.default_hyp == "damo-t"

    result = export_model(model, "onnx", imgsz=64, file=tmp_path / "searched.onnx")
    assert result.parity.ok  # export_model refuses a file that fails the parity check
    onnx_model = load_exported(result.path)
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        ref = model.deploy()(x)
    got = onnx_model(x)
    assert torch.allclose(got.boxes, ref.boxes, atol=1e-2) and torch.allclose(
        got.scores, ref.scores, atol=1e-4
    )

    bench = BenchmarkConfig(models=[str(weights)], imgsz=64, backends="torch,onnx",
                            runs=2, warmup=1, project=str(tmp_path), name="bench")  # fmt: skip
    _, rows = run_benchmark(bench)
    ours = rows[0]
    assert ours["model_name"] == "damoyolo-nas" and ours["family"] == "damoyolo"
    assert set(ours["latency"]) == {"torch", "onnx"} and ours["params"] > 0
