"""One configuration path for training: a cfg file takes every key the command line takes (the
family hyperparameters too), and a key the model's family does not use is an error naming both."""

from __future__ import annotations

import pytest
import yaml

from yoloarena.cli import main
from yoloarena.config import ConfigError, build_config
from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine.checkpoint import load_checkpoint
from yoloarena.engine.train_job import TrainConfig, parse_train_args, run_train
from yoloarena.hyp import family_hyp


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return make_synthetic(root, SynthSpec(n_train=4, n_val=2, imgsz=64, classes=2, seed=1))


def test_cfg_file_hyperparameters_reach_the_optimiser(data, tmp_path, capsys) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: yolov5n\ndata: {data}\nepochs: 1\nimgsz: 64\nbatch: 2\nworkers: 0\n"
                   "plots: false\nlr0: 0.0123\nmosaic: 0.25\nbox: 0.07\n")  # fmt: skip
    # key=value beats the file (mosaic), the file beats the preset (lr0, box)
    assert main(["train", f"cfg={cfg}", "mosaic=0.5", f"project={tmp_path}", "name=r"]) == 0
    run = tmp_path / "r"
    hyp = yaml.safe_load((run / "hyp.yaml").read_text())
    assert (hyp["lr0"], hyp["mosaic"], hyp["box"], hyp["lrf"]) == (0.0123, 0.5, 0.07, 0.01)
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert (args["lr0"], args["mosaic"], args["box"]) == (0.0123, 0.5, 0.07)
    train = load_checkpoint(run / "weights" / "last.pt")["train"]
    assert [g["initial_lr"] for g in train["optimizer"]["param_groups"]] == [0.0123] * 3
    assert train["hyp"]["mosaic"] == 0.5 and train["config"]["lr0"] == 0.0123
    # the saved args.yaml is itself a cfg file that reads back to the same config
    assert parse_train_args({}, str(run / "args.yaml")) == build_config(TrainConfig, args)


@pytest.mark.parametrize(
    "how",
    ["cli", "cfg", "hyp-file", "python"],
)
def test_yolov5_key_on_damoyolo_is_an_error(data, tmp_path, capsys, how) -> None:
    message = "box= does not apply to DAMO-YOLO (damoyolo): only YOLOv5 uses it"
    base = ["train", "model=damoyolo-ns", f"data={data}", "epochs=1", f"project={tmp_path}"]
    if how == "python":
        cfg = TrainConfig(model="damoyolo-ns", data=str(data), epochs=1, project=str(tmp_path))
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            run_train(cfg, {"box": 0.1})
    else:
        extra = tmp_path / "extra.yaml"
        extra.write_text("box: 0.1\nlr0: 0.01\n")
        arg = {"cli": "box=0.1", "cfg": f"cfg={extra}", "hyp-file": f"hyp={extra}"}[how]
        assert main([*base, arg]) == 1
        where = f"hyp file '{extra}': " if how == "hyp-file" else ""
        assert capsys.readouterr().err.strip() == (
            f"yoloarena train: error: {where}{message}; remove it, or train a YOLOv5 model"
        )
    assert not any(tmp_path.glob("*/weights"))  # refused before training


def test_presets_files_and_overrides_compose(tmp_path) -> None:
    med = family_hyp("yolov5", "scratch-med", None, {"lr0": "0.5"})
    assert (med.lr0, med.lrf, med.cls, med.mixup) == (0.5, 0.1, 0.3, 0.1)  # the official file
    short = family_hyp("damoyolo", "short", "damo-t", {})
    assert (short.optimizer, short.lr0, short.shear) == ("AdamW", 0.002, 0.2)  # T's preset
    f = tmp_path / "hyp.yaml"
    f.write_text("lr0: 0.003\n")  # a partial file: on top of the model's default preset
    damo = family_hyp("damoyolo", str(f), "damo-t", {"mosaic": 0.0})
    assert (damo.lr0, damo.shear, damo.mosaic, damo.schedule) == (0.003, 0.2, 0.0, "cosine_flat")
    assert not hasattr(damo, "box")
    # a checkpoint written before hyperparameters joined the train config reads back
    old = build_config(TrainConfig, {"model": "yolov5n", "hyp_overrides": {"nbs": 4}})
    assert old.hyp_overrides == {"nbs": 4}


def test_python_overrides_are_coerced_like_the_command_line(data, tmp_path) -> None:
    cfg = TrainConfig(model="yolov5n", data=str(data), epochs=1, imgsz=64, batch=2, workers=0,
                      plots=False, project=str(tmp_path), name="py")  # fmt: skip
    run = run_train(cfg, {"mosaic": "0.5", "scale_range": "0.5,1.5"})
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert (args["mosaic"], args["scale_range"]) == (0.5, [0.5, 1.5])
    with pytest.raises(ConfigError, match=r"mosaic=2 is out of range: it must be in \[0, 1\]"):
        run_train(cfg, {"mosaic": 2})
