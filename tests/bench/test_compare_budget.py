"""Issue 19: the deployment choice of compare (budget_ms=, budget_backend=) on a results table,
the chart's budget line, and the clear errors of compare's arguments (mixed tasks, an unknown
backend, a budget backend that is not measured) before any work."""

from __future__ import annotations

import pytest

from yoloarena.bench.budget import accuracy_on, pick
from yoloarena.bench.compare import CompareConfig, run_compare
from yoloarena.cli import main


def _row(model: str, ap: float, ms: dict[str, float], backend_ap: dict | None = None) -> dict:
    return {
        "model": model,
        "family": "yolov5" if model.startswith("yolo") else "damoyolo",
        "imgsz": 160,
        "metrics": {"AP": ap, "AP50": ap + 0.1},
        "latency": {b: {"median_ms": v, "p90_ms": v * 1.1} for b, v in ms.items()},
        "backend_metrics": {
            b: {"AP": v, "precision": "int8"} for b, v in (backend_ap or {}).items()
        },
    }


# The table: AP (torch) and median ms on two backends; the int8 files lose accuracy unevenly.
ROWS = [
    _row("yolov5n", 0.30, {"onnx": 5.0, "openvino-int8": 2.0}, {"openvino-int8": 0.28}),
    _row("yolov5s", 0.40, {"onnx": 12.0, "openvino-int8": 4.5}, {"openvino-int8": 0.31}),
    _row("damoyolo-t", 0.42, {"onnx": 15.0, "openvino-int8": 5.5}, {"openvino-int8": 0.40}),
]


@pytest.mark.parametrize(
    ("budget", "backend", "expected"),
    [
        (13.0, "onnx", "yolov5s"),  # damoyolo-t (0.42) takes 15 ms: over
        (100.0, "onnx", "damoyolo-t"),  # everything fits: the most accurate
        (5.0, "onnx", "yolov5n"),  # exactly on the budget counts as meeting it
        (5.0, "openvino-int8", "yolov5s"),  # the int8 file's own AP ranks (0.31 > 0.28)
        (6.0, "openvino-int8", "damoyolo-t"),
    ],
)
def test_budget_picks_most_accurate_model_within_it(budget, backend, expected) -> None:
    choice = pick(ROWS, budget, backend)
    assert choice.row is not None and choice.row["model"] == expected
    assert f"**{expected}**" in choice.message and backend in choice.message


def test_budget_accuracy_is_the_backends_own() -> None:
    assert accuracy_on(ROWS[1], "openvino-int8", "AP") == 0.31
    assert accuracy_on(ROWS[1], "onnx", "AP") == 0.40  # not scored there: the model's own


def test_budget_no_model_meets_it_names_the_fastest() -> None:
    choice = pick(ROWS, 1.0, "openvino-int8")
    assert choice.row is None
    assert "no model meets it" in choice.message and "yolov5n, takes 2.0 ms" in choice.message


def test_budget_ties_go_to_the_faster() -> None:
    rows = [_row("a", 0.5, {"onnx": 4.0}), _row("b", 0.5, {"onnx": 3.0})]
    assert pick(rows, 10, "onnx").row["model"] == "b"


def test_budget_classifiers_rank_by_top1() -> None:
    rows = [_row("a", 0.1, {"torch": 2.0}), _row("b", 0.1, {"torch": 3.0})]
    rows[0]["metrics"] = {"top1": 0.6, "top5": 0.9}
    rows[1]["metrics"] = {"top1": 0.8, "top5": 1.0}
    choice = pick(rows, 5, "torch")
    assert choice.row["model"] == "b" and "top-1 0.8000" in choice.message


def test_chart_draws_the_budget_line(tmp_path) -> None:
    from matplotlib import pyplot as plt

    from yoloarena.bench import charts

    drawn = {}
    real = charts.save_figure

    def keep(fig, path):
        ax = fig.axes[0]
        drawn["labels"] = ax.get_legend_handles_labels()[1]
        drawn["xlabel"] = ax.get_xlabel()
        drawn["vlines"] = [ln.get_xdata()[0] for ln in ax.lines if ln.get_linestyle() == ":"]
        return real(fig, path)

    charts.save_figure = keep
    try:
        path = charts.plot_tradeoff(ROWS, tmp_path / "t.png", pick(ROWS, 5.0, "openvino-int8"))
    finally:
        charts.save_figure = real
        plt.close("all")
    assert path.is_file() and path.stat().st_size > 0
    assert "budget 5 ms" in drawn["labels"] and "best under budget: yolov5s" in drawn["labels"]
    assert drawn["vlines"] == [5.0] and "openvino-int8" in drawn["xlabel"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["models=yolov5n,yolov5n-seg"],
            "models= mixes tasks: yolov5n (detect), yolov5n-seg "
            "(segment); compare models of one task at a time",
        ),
        (["models=yolov5n,yolov5n-cls"], "yolov5n-cls (classify)"),
        (["models=yolov5n", "backends=torch,onxx"], "unknown backend 'onxx'"),
        (
            ["models=yolov5n", "backends=torch", "budget_ms=5", "budget_backend=onnx"],
            "budget_backend=onnx is not among backends=torch",
        ),
        (["models=nope.pt"], "models: 'nope.pt' is neither a registered model nor a file"),
        (["models=yolov5n-cls"], "compare of classifiers needs data="),
    ],
)
def test_compare_argument_errors_are_one_clear_line(tmp_path, capsys, args, message) -> None:
    assert main(["compare", *args, f"project={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.rglob("train"))  # nothing was trained


def test_compare_refuses_data_of_another_task(tmp_path) -> None:
    from yoloarena.data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic
    from yoloarena.errors import YoloArenaError

    data = make_classify_synthetic(tmp_path / "cls", ClassifySynthSpec(1, 1, 32, 2, seed=1))
    with pytest.raises(YoloArenaError, match="does not fit detect models"):
        run_compare(CompareConfig(data=str(data), models=["yolov5n"], project=str(tmp_path)))
