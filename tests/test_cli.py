"""The CLI: predict writes project/name; user errors are one line with exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, shared_json, shared_path

from yoloarena.cli import main


def test_predict_writes_run_folder(tmp_path, capsys) -> None:
    weights = shared_path("data", "weights", "yolov5n.pt")
    source = shared_path("data", "images")
    args = [f"model={weights}", f"source={source}", "conf=0.25", "iou=0.45", "imgsz=640",
            "save_txt=True", "save_conf=True", "save_crop=True", f"project={tmp_path}",
            "name=demo"]  # fmt: skip
    assert main(["predict", *args]) == 0
    out = tmp_path / "demo"
    assert sorted(p.name for p in out.glob("*.jpg")) == ["bus.jpg", "zidane.jpg"]
    rows = (out / "labels" / "zidane.txt").read_text().splitlines()
    assert [r.split()[0] for r in rows] == ["0", "0", "27"] and len(rows[0].split()) == 6
    records = json.loads((out / "predictions.json").read_text())
    assert [len(r["detections"]) for r in records] == [5, 3]
    assert records[1]["detections"][2]["name"] == "tie"
    assert (out / "crops" / "tie" / "zidane.jpg").is_file()
    assert "model:" in (out / "args.yaml").read_text()
    assert main(["predict", *args]) == 0  # a second run does not overwrite the first
    assert (tmp_path / "demo2" / "bus.jpg").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "model=missing/yolov5n.pt", "source=x.jpg"],
         "weights file 'missing/yolov5n.pt' not found"),
        (["predict", "model=yolov5q", "source=x.jpg"], "unknown model 'yolov5q'; did you mean"),
        (["predict", "model=yolov5n", "sorce=x.jpg"],
         "unknown config key 'sorce'; did you mean 'source'"),
        (["predict", "model=yolov5n", "conf=high"], "conf='high' is not a valid float"),
        (["predict", "model=yolov5n"], "predict needs source="),
        (["predikt"], "unknown mode 'predikt'; did you mean 'predict'"),
        (["predict", "conf"], "argument 'conf' is not key=value"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(args, message, capsys) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_console_script_runs_without_traceback(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "yoloarena", "predict", "model=nope.pt", "source=x"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(
        "yoloarena predict: error: weights file 'nope.pt' not found"
    )
    assert "Traceback" not in proc.stderr


def test_info_prints_zoo(capsys) -> None:
    """Measured figures against the shared reference measurements of the official code; the
    published columns against the official READMEs (specs)."""
    assert main(["info", "models=yolov5n,yolov5s6,damoyolo-ns"]) == 0
    out = capsys.readouterr().out
    rows = {c[0]: c for c in ([x.strip() for x in ln.strip("|").split("|")]
                              for ln in out.splitlines() if ln.startswith("| "))}  # fmt: skip
    v5 = shared_json("reference", "yolov5_model_stats.json")["models"]
    for name in ("yolov5n", "yolov5s6"):
        ref = v5[name]
        gflops = ref.get("gflops_flopcounter_640_fused", ref["gflops_info_thop_fused"])
        assert rows[name][1:3] == ["yolov5", "640"]
        assert float(rows[name][3]) == pytest.approx(ref["params_fused"] / 1e6, abs=5e-4)
        assert float(rows[name][4]) == pytest.approx(gflops, abs=5e-4)
    damo = shared_json("reference", "damoyolo_measurements.json")["models"]["ns"]
    ns = rows["damoyolo-ns"]
    assert ns[1:3] == ["damoyolo", "416"]
    assert float(ns[4]) == pytest.approx(damo["fc_gflops_deploy_416"], abs=5e-4)
    # the reference counts the BN weights that the deployed model folds into its convolutions
    assert 0.98 * damo["params_deploy"] / 1e6 < float(ns[3]) < damo["params_deploy"] / 1e6
    assert rows["yolov5n"][5] == "28.0"  # published (README): mAP50-95
    assert ns[5:8] == ["32.3", "1.41", "1.56"]  # published (README): mAP, params, GFLOPs


def test_data_synth_writes_a_loadable_dataset(tmp_path, capsys) -> None:
    from yoloarena.data.load import load_dataset

    out = tmp_path / "shapes"
    assert (
        main(["data", "synth", f"out={out}", "n_train=6", "n_val=2", "imgsz=96", "classes=3"]) == 0
    )
    ds = load_dataset(out / "data.yaml", "train")
    assert len(ds) == 6 and ds.names == {0: "circle", 1: "square", 2: "triangle"}
    assert ds.report.instances > 0 and not ds.report.problems
    again = tmp_path / "again"
    main(["data", "synth", f"out={again}", "n_train=6", "n_val=2", "imgsz=96", "classes=3"])
    first = sorted((out / "labels" / "train").glob("*.txt"))
    assert [p.read_text() for p in first] == [
        (again / "labels" / "train" / p.name).read_text() for p in first
    ]  # deterministic


def test_mode_help_lists_keys_with_defaults(capsys) -> None:
    for args in (["train", "help"], ["train", "-h"], ["help", "train"], ["train", "--help"]):
        assert main(args) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: yoloarena train [key=value ...]")
        rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
        # the default presets of yolov5 | damoyolo | torchvision (its classifiers' recipe)
        assert rows["lr0"].split()[1:6] == ["0.01", "|", "0.04", "|", "0.001"]
        assert rows["fliplr"].split()[1:3] == ["0.5", "probability"]  # equal: shown once
        assert rows["epochs"].split()[1] == "100" and "(>= 1)" in rows["epochs"]
        assert rows["box"].split()[1:6] == ["0.05", "|", "-", "|", "-"]  # only YOLOv5 uses it
        assert rows["fraction"].endswith("(in (0, 1])")


@pytest.mark.parametrize(
    "mode", ["train", "predict", "val", "export", "benchmark", "compare", "check", "convert",
             "data", "info"],
)  # fmt: skip
def test_every_key_of_every_mode_has_help(mode, capsys) -> None:
    import dataclasses

    from yoloarena.cli import config_of

    assert main([mode, "help"]) == 0
    out = capsys.readouterr().out
    cls = config_of(mode)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("inline"):
            assert f.metadata.get("help"), f"{mode}: {f.name} has no help"
            assert any(line.split()[:1] == [f.name] for line in out.splitlines()), f.name


def test_version(capsys) -> None:
    import yoloarena

    for args in (["--version"], ["version"]):
        assert main(args) == 0
        assert capsys.readouterr().out.strip() == yoloarena.__version__


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "source=x.jpg"], "predict needs model=<weights .pt/.pth, an exported file"),
        (["val", "data=x.yaml"], "val needs model=<weights .pt/.pth or an exported file>"),
        (["export"], "export needs model=<weights .pt/.pth>"),
        (["data"], "data needs a subcommand: `yoloarena data synth out=<folder>"),
        (["data", "make"], "data needs a subcommand: `yoloarena data synth"),
        (["train", "imgsiz=64"], "unknown config key 'imgsiz'; did you mean 'imgsz'?"),
        (["train", "mosiac=0.5"], "unknown config key 'mosiac'; did you mean 'mosaic'?"),
        (["train", "warmup_epoch=1"], "unknown config key 'warmup_epoch'; did you mean 'warmup_ep"),
        (["train", "box=0.1", "model=damoyolo-t", "data=x.yaml"],
         "box= does not apply to DAMO-YOLO (damoyolo): only YOLOv5 uses it"),
        (["versoin"], "unknown mode 'versoin'; did you mean 'version'?"),
    ],
)  # fmt: skip
def test_required_model_and_typos(args, message, capsys, tmp_path) -> None:
    assert main([*args, f"project={tmp_path}"] if args[0] != "data" else args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"yoloarena {args[0]}: error: ") and message in err, err
    assert len(err.splitlines()) == 1 and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "conf=1.5"], "conf=1.5 is out of range: it must be in [0, 1]"),
        (["predict", "iou=-0.1"], "iou=-0.1 is out of range: it must be in [0, 1]"),
        (["predict", "max_det=0"], "max_det=0 is out of range: it must be >= 1"),
        (["predict", "batch=0"], "batch=0 is out of range: it must be >= 1"),
        (["predict", "vid_stride=0"], "vid_stride=0 is out of range: it must be >= 1"),
        (["predict", "imgsz=0"], "imgsz=0 is out of range: it must be > 0"),
        (["val", "conf=2"], "conf=2 is out of range: it must be in [0, 1]"),
        (["val", "iou=1.01"], "iou=1.01 is out of range: it must be in [0, 1]"),
        (["val", "workers=-1"], "workers=-1 is out of range: it must be >= 0"),
        (["val", "max_det=-5"], "max_det=-5 is out of range: it must be >= 1"),
        (["train", "epochs=0"], "epochs=0 is out of range: it must be >= 1"),
        (["train", "batch=-1"], "batch=-1 is out of range: it must be >= 1"),
        (["train", "workers=-2"], "workers=-2 is out of range: it must be >= 0"),
        (["train", "imgsz=-32"], "imgsz=-32 is out of range: it must be > 0"),
        (["train", "fraction=0"], "fraction=0 is out of range: it must be in (0, 1]"),
        (["train", "fraction=1.5"], "fraction=1.5 is out of range: it must be in (0, 1]"),
        (["train", "mosaic=2"], "mosaic=2 is out of range: it must be in [0, 1]"),
        (["export", "batch=0"], "batch=0 is out of range: it must be >= 1"),
        (["export", "conf=-1"], "conf=-1 is out of range: it must be in [0, 1]"),
        (["benchmark", "imgsz=0"], "imgsz=0 is out of range: it must be > 0"),
        (["compare", "epochs=0"], "epochs=0 is out of range: it must be >= 1"),
        (["check", "workers=-1"], "workers=-1 is out of range: it must be >= 0"),
    ],
)  # fmt: skip
def test_values_out_of_range_are_one_line_exit_1(args, message, capsys, tmp_path) -> None:
    mode = args[0]
    model = ["model=yolov5n"] if mode in ("predict", "val", "train", "export") else []
    assert main([*args, *model, f"project={tmp_path}"]) == 1
    assert capsys.readouterr().err.strip() == f"yoloarena {mode}: error: {message}"
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: [1, 2\n", "is not valid yaml (line 2, column 1): expected ',' or ']'"),
        ("lr0: !!python/object/apply:os.system ['touch pwned']\n",
         "(line 1, column 6): the tag !!python/object/apply:os.system is not allowed"),
        ("- epochs\n", "must hold a mapping of key: value, not a list"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("mode", ["train", "predict", "val"])
def test_bad_cfg_file_is_one_line_naming_it(mode, text, message, capsys, tmp_path) -> None:
    cfg = tmp_path / "my cfg.yaml"
    cfg.write_text(text)
    assert main([mode, f"cfg={cfg}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"yoloarena {mode}: error: config file '{cfg}' {message}"), err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "pwned").exists()


def test_bad_hyp_and_dataset_yaml_name_the_file(capsys, tmp_path) -> None:
    from yoloarena.data.synthetic import SynthSpec, make_synthetic

    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=2, n_val=1, imgsz=64, classes=2))
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("lr0: !!python/name:os.getcwd ''\n")
    common = ["model=yolov5n", "epochs=1", "imgsz=64", f"project={tmp_path / 'runs'}"]
    assert main(["train", f"data={data}", f"hyp={hyp}", *common]) == 1
    assert f"hyp file '{hyp}' (line 1, column 6): the tag !!python/name:os.getcwd" in (
        capsys.readouterr().err
    )
    hyp.write_text("lr00: 0.1\n")
    assert main(["train", f"data={data}", f"hyp={hyp}", *common]) == 1
    err = capsys.readouterr().err
    assert f"hyp file '{hyp}': unknown YOLOv5 hyperparameter 'lr00'; did you mean 'lr0'?" in err
    bad = tmp_path / "data.yaml"
    bad.write_text("train: images\nnames: {0: a\n")
    assert main(["train", f"data={bad}", *common]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"yoloarena train: error: dataset file '{bad}' is not valid yaml (line")
    assert len(err.splitlines()) == 1
