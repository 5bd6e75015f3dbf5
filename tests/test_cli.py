"""The CLI: predict writes runs/predict/<name>/; user errors are one line with exit code 1."""

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
    out = tmp_path / "predict" / "demo"
    assert sorted(p.name for p in out.glob("*.jpg")) == ["bus.jpg", "zidane.jpg"]
    rows = (out / "labels" / "zidane.txt").read_text().splitlines()
    assert [r.split()[0] for r in rows] == ["0", "0", "27"] and len(rows[0].split()) == 6
    records = json.loads((out / "predictions.json").read_text())
    assert [len(r["detections"]) for r in records] == [5, 3]
    assert records[1]["detections"][2]["name"] == "tie"
    assert (out / "crops" / "tie" / "zidane.jpg").is_file()
    assert "model:" in (out / "args.yaml").read_text()
    assert main(["predict", *args]) == 0  # a second run does not overwrite the first
    assert (tmp_path / "predict" / "demo2" / "bus.jpg").is_file()


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
