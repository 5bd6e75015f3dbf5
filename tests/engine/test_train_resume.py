"""Issue 5, must-show 3: SIGKILL at any point leaves a loadable last.pt, and resuming finishes the
run with exactly the weights of an uninterrupted run (CPU, fixed seed, per-sample RNG)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from training import (
    assert_same_weights,
    kill_when,
    launch,
    reference,
    run_to_end,
    train_args,
)

import yoloarena
from yoloarena.engine.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def project():
    return Path(tempfile.mkdtemp(prefix="yoloarena-runs-"))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "mode", "marker"), [
    ("mid-epoch", "plain", "epoch 2/3 6/12"),  # in the middle of epoch 2
    ("mid-save", "slow-save", "SAVING"),  # while epoch 2's last.pt is being written
    ("after-save", "plain", "epoch 3/3 3/12"),  # early in epoch 3, after epoch 2's checkpoint
])  # fmt: skip
def test_killed_run_resumes_to_the_same_weights(project, tmp_path, name, mode, marker) -> None:
    ref = reference(str(project))
    log = kill_when(launch(mode, train_args(project, name), tmp_path), marker)
    last = project / name / "weights" / "last.pt"
    ckpt = load_checkpoint(last)  # loadable, never half-written
    assert ckpt["train"]["epoch"] in (0, 1), log
    assert yoloarena.load(last).model_name == "yolov5n"
    out = run_to_end("plain", ["train", f"resume={last}"], tmp_path)
    assert "resuming from epoch" in out
    final = load_checkpoint(last)
    assert final["train"]["finished"] and final["train"]["epoch"] == 2
    assert_same_weights(ref, final)
    assert not list(last.parent.glob(".*.tmp"))  # the interrupted temp file was cleaned up
    rows = (project / name / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]][-1] == "3"


@pytest.mark.slow
def test_finished_run_needs_more_epochs_to_continue(project, tmp_path) -> None:
    reference(str(project))
    last = project / "reference" / "weights" / "last.pt"
    from yoloarena.cli import main

    assert main(["train", f"resume={last}"]) == 1  # finished: says to pass epochs=N
    out = run_to_end("plain", ["train", f"resume={last}", "epochs=4"], tmp_path)
    assert "resuming from epoch 4 of 4" in out
    assert load_checkpoint(last)["train"]["epoch"] == 3
