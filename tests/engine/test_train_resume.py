"""Issue 5, must-show 3, and issue 12, must-show 4: SIGKILL at any point (including right after a
checkpoint is saved) or a full disk leaves a loadable last.pt; resuming finishes the run with
exactly the weights of an uninterrupted run (CPU, fixed seed, per-sample RNG) and results.csv
holds every epoch exactly once."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from training import (
    assert_same_weights,
    epochs_logged,
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
    ("right-after-save", "kill-after-save", "SAVED"),  # as soon as epoch 2's last.pt is in place
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
    assert epochs_logged(project / name) == [1, 2, 3]  # each epoch exactly once


@pytest.mark.slow
def test_full_disk_stops_training_and_keeps_the_last_good_checkpoint(project, tmp_path) -> None:
    ref = reference(str(project))
    out = run_to_end("full-disk", train_args(project, "full"), tmp_path, code=1)
    run = project / "full"
    last = run / "weights" / "last.pt"
    line = out.strip().splitlines()[-1]
    assert line.startswith("yoloarena train: error: training stopped in epoch 2: cannot write "
                           f"'{last}': No space left on device"), out  # fmt: skip
    assert f"the last good checkpoint is {last}" in line and "Traceback" not in out
    assert "results saved" not in out
    assert load_checkpoint(last)["train"]["epoch"] == 0  # epoch 1's, intact
    assert not list(last.parent.glob(".*.tmp"))  # the partial file is gone
    assert epochs_logged(run) == [1, 2]  # epoch 2's row was written before its checkpoint failed
    resumed = run_to_end("plain", ["train", f"resume={last}"], tmp_path)  # space freed
    assert "dropping 1 rows after epoch 1" in resumed
    assert epochs_logged(run) == [1, 2, 3]
    assert_same_weights(ref, load_checkpoint(last))


@pytest.mark.slow
def test_finished_run_needs_more_epochs_to_continue(project, tmp_path) -> None:
    reference(str(project))
    last = project / "reference" / "weights" / "last.pt"
    from yoloarena.cli import main

    assert main(["train", f"resume={last}"]) == 1  # finished: says to pass epochs=N
    out = run_to_end("plain", ["train", f"resume={last}", "epochs=4"], tmp_path)
    assert "resuming from epoch 4 of 4" in out
    assert load_checkpoint(last)["train"]["epoch"] == 3
