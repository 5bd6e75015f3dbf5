"""Run folders follow Ultralytics: `project=X name=Y` is the folder X/Y in every mode; without
project= it is runs/<mode>/<name>, incremented (exp, exp2, ...) unless exist_ok."""

from __future__ import annotations

import pytest

from yoloarena.cli import main
from yoloarena.data.synthetic import SynthSpec, make_synthetic

TINY = ["imgsz=64", "workers=0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return make_synthetic(root, SynthSpec(n_train=4, n_val=2, imgsz=64, classes=2, seed=2))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A one-epoch run written to project/name, and that folder."""
    project = tmp_path_factory.mktemp("project")
    args = ["train", "model=yolov5n", f"data={data}", "epochs=1", "batch=2", "plots=False",
            *TINY, f"project={project}", "name=first"]  # fmt: skip
    assert main(args) == 0
    return project / "first"


def _only(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_train_writes_project_name_and_resume_finds_it(trained) -> None:
    project = trained.parent
    assert _only(project) == ["first"]  # no project/train/...
    assert (trained / "weights" / "last.pt").is_file() and (trained / "args.yaml").is_file()
    # resume=True looks for the newest unfinished run in project/*: the run above is finished
    assert main(["train", "resume=True", f"project={project}", "epochs=2"]) == 1
    # ... so it is named, and continues to 2 epochs when given as resume=<last.pt>
    assert main(["train", f"resume={trained / 'weights' / 'last.pt'}", "epochs=2"]) == 0
    assert len((trained / "results.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert _only(project) == ["first"]


@pytest.mark.parametrize(
    ("mode", "args", "written"),
    [
        ("val", ["model={weights}", "data={data}", "batch=2", "plots=False", *TINY],
         "results.json"),
        ("predict", ["model=yolov5n", "source={image}", "imgsz=64"], "train_00000.jpg"),
        ("export", ["model=yolov5n", "format=onnx", "imgsz=64"], "yolov5n.onnx"),
        ("benchmark", ["models=yolov5n", "backends=torch", "runs=1", "warmup=0", "imgsz=64"],
         "results.json"),
        ("compare", ["models={weights}", "data={data}", "backends=torch", "runs=1", "samples=1",
                     *TINY], "report.md"),
        ("check", ["data={data}"], "report.json"),
    ],
)  # fmt: skip
def test_every_mode_writes_project_name(mode, args, written, data, trained, tmp_path) -> None:
    if mode == "export":
        pytest.importorskip("onnxruntime", reason="the [export] extra is not installed")
    image = data.parent / "images" / "train" / "train_00000.jpg"
    values = {"data": data, "image": image, "weights": trained / "weights" / "last.pt"}
    argv = [a.format(**values) for a in args] + [f"project={tmp_path / 'X'}", "name=Y"]
    assert main([mode, *argv]) == 0
    assert _only(tmp_path) == ["X"] and _only(tmp_path / "X") == ["Y"]
    assert (tmp_path / "X" / "Y" / written).is_file()
    assert main([mode, *argv]) == 0  # a second run increments (compare continues its folder)
    assert _only(tmp_path / "X") == (["Y"] if mode == "compare" else ["Y", "Y2"])


def test_default_is_runs_mode_name_incremented(data, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["check", f"data={data}"]) == 0
    assert main(["check", f"data={data}", "name=mine"]) == 0
    assert main(["check", f"data={data}", "name=mine", "exist_ok=True"]) == 0
    assert _only(tmp_path / "runs") == ["check"]
    assert _only(tmp_path / "runs" / "check") == ["exp", "exp2", "mine"]
