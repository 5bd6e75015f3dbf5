"""Issue 19: compare fine-tunes weights files with their family's recipe (YOLOv5: scratch-low from
the weights, the head re-initialised when the class count differs; DAMO-YOLO: finetune_path,
every tensor but the head's), trains registered names from scratch, evaluates files as given on
request, and says in the report how each model was obtained; `device=0,1` trains under torchrun
with the arguments of `yoloarena train`."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import shared_path

from yoloarena.bench.compare import CompareConfig, model_key, run_compare
from yoloarena.bench.obtain import damo_start, plan, train_argv
from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine.train_job import TrainConfig, parse_train_args, run_train
from yoloarena.loading import load_model
from yoloarena.registry import build_model
from yoloarena.weights import read_weights

TWO = {0: "circle", 1: "square"}


def _official_damo(path: Path, num_classes: int = 3, seed: int = 7) -> Path:
    """A DAMO-YOLO-Ns file in the official layout ({'model': state_dict, 'epoch': n})."""
    torch.manual_seed(seed)
    torch.save({"model": build_model("damoyolo-ns", num_classes=num_classes).state_dict(),
                "epoch": 1}, path)  # fmt: skip
    return path


def test_plan_says_how_each_model_is_obtained(tmp_path) -> None:
    yolo = str(shared_path("data", "weights", "yolov5n.pt"))  # COCO's 80 classes
    damo = str(_official_damo(tmp_path / "damo.pth"))
    assert plan("yolov5n", TWO, None).text() == "trained from scratch"
    tuned = plan(yolo, TWO, None)  # other classes than the data's: fine-tuned by default
    assert tuned.how == "finetune" and tuned.text() == f"fine-tuned from {yolo}"
    assert tuned.hyp == "scratch-low" and "scratch-low" in tuned.recipe
    d = plan(damo, TWO, None)
    assert d.how == "finetune" and d.hyp == "" and "finetune_path" in d.recipe
    assert plan(yolo, TWO, False).text() == "evaluated as given"
    coco = read_weights(yolo).names
    assert plan(yolo, coco, None).how == "given"  # the file's own classes: evaluated as given
    assert plan(yolo, coco, True).how == "finetune"


def test_damo_start_keeps_all_but_the_head(tmp_path) -> None:
    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=2, n_val=2, imgsz=64, classes=2))
    src = _official_damo(tmp_path / "damo.pth")
    start = read_weights(damo_start(str(src), str(data), tmp_path / "start.pt", seed=3))
    given = torch.load(src)["model"]
    torch.manual_seed(3)
    fresh = build_model("damoyolo-ns", num_classes=2).state_dict()
    assert start.num_classes == 2
    body = [k for k in given if "head" not in k]
    assert body and all(torch.equal(start.state_dict[k], given[k].float()) for k in body)
    head = [k for k in fresh if "head" in k]
    assert len(head) > 4 and all(torch.equal(start.state_dict[k], fresh[k]) for k in head)
    # the head's weights of the same shape in both (gfl_reg) came from the fresh model, not the file
    same = [k for k in head if given[k].shape == fresh[k].shape
            and not torch.equal(given[k].float(), fresh[k])]  # fmt: skip
    assert any("gfl_reg" in k for k in same)


def test_train_argv_round_trips_through_the_train_parser() -> None:
    cfg = TrainConfig(model="damo.pth", data="d.yaml", epochs=3, imgsz=128, batch=8,
                      device="cpu", workers=1, hyp="scratch-low", seed=4, project="p",
                      name="n", exist_ok=True, plots=True)  # fmt: skip
    assert parse_train_args(dict(a.split("=", 1) for a in train_argv(cfg))) == cfg
    cfg.resume = "p/n/weights/last.pt"
    assert train_argv(cfg) == ["resume=p/n/weights/last.pt", "device=cpu", "workers=1"]


def test_several_gpus_train_under_torchrun(monkeypatch) -> None:
    import yoloarena.devices
    from yoloarena.bench import obtain
    from yoloarena.errors import YoloArenaError

    calls = []

    def fake_run(cmd, env):
        calls.append((cmd, env["CUDA_VISIBLE_DEVICES"]))
        return subprocess.CompletedProcess(cmd, len(calls) - 1)  # the second call fails

    monkeypatch.setattr(yoloarena.devices, "cuda_indices", lambda device: [0, 1])
    monkeypatch.setattr(obtain.subprocess, "run", fake_run)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = TrainConfig(model="yolov5n", data="d.yaml", epochs=2, project="p", name="n")
    obtain._run_train(cfg, "yolov5n")
    cmd, visible = calls[0]
    assert visible == "0,1" and "--nproc_per_node=2" in cmd
    assert cmd[cmd.index("train") - 1] == "yoloarena" and "model=yolov5n" in cmd
    assert cmd[-1] == "device=cuda"  # each process takes the GPU of its local rank
    with pytest.raises(YoloArenaError, match=r"under torchrun failed \(exit code 1\); rerun"):
        obtain._run_train(cfg, "yolov5n")


@pytest.mark.slow
def test_compare_fine_tunes_official_and_damo_files(tmp_path) -> None:
    """yolov5n.pt (official, 80 classes) and a DAMO-YOLO file (trained briefly on 3 classes, saved
    in the official layout) fine-tuned 1 epoch on 2 classes; yolov5n from scratch beside them on
    the same data and seed. hyp: no warmup and no accumulation for every model (the default's
    100-iteration warmup leaves a one-epoch CI-sized run at lr ~ 0, where both score ~0)."""
    src = make_synthetic(tmp_path / "src", SynthSpec(n_train=16, n_val=4, imgsz=128, classes=3,
                                                     seed=1))  # fmt: skip
    run = run_train(TrainConfig(model="damoyolo-ns", data=str(src), epochs=1, imgsz=128, batch=8,
                                workers=0, plots=False, val=False, project=str(tmp_path),
                                name="pre"))  # fmt: skip
    damo = tmp_path / "damo_ns.pth"
    torch.save({"model": load_model(run / "weights" / "last.pt").state_dict(), "epoch": 1}, damo)
    data = make_synthetic(tmp_path / "data", SynthSpec(n_train=128, n_val=16, imgsz=128,
                                                       classes=2, seed=2))  # fmt: skip
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("warmup_epochs: 0\nnbs: 8\n")
    yolo = str(shared_path("data", "weights", "yolov5n.pt"))
    cfg = CompareConfig(data=str(data), models=[yolo, "yolov5n", str(damo)], epochs=1, imgsz=128,
                        batch=8, hyp=str(hyp), backends="torch", runs=1, samples=1, workers=0,
                        project=str(tmp_path / "runs"))  # fmt: skip
    out = run_compare(cfg)
    md = (out / "report.md").read_text()
    assert f"| {yolo} | fine-tuned from {yolo} |" in md
    assert f"| {damo} | fine-tuned from {damo} |" in md
    assert "| yolov5n | trained from scratch |" in md
    assert "finetune_path" in md and "scratch-low" in md  # each recipe, said
    first, tuned = {}, model_key(yolo)
    for key in (tuned, "yolov5n"):
        with (out / "train" / key / "results.csv").open() as f:
            first[key] = float(next(csv.DictReader(f))["metrics/AP"])
        result = json.loads((out / "models" / key / "result.json").read_text())
        assert result["origin"]["how"] == ("finetune" if key != "yolov5n" else "scratch")
    print("first-epoch AP: fine-tuned", first[tuned], "scratch", first["yolov5n"])
    assert first[tuned] > first["yolov5n"]
    damo_run = out / "train" / model_key(str(damo))
    assert read_weights(damo_run / "start.pt").num_classes == 2
    assert (damo_run / "weights" / "best.pt").is_file()
