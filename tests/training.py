"""Helpers shared by the training tests: generated datasets, a CLI driver that can be killed at
chosen moments, and checkpoint comparison."""

from __future__ import annotations

import csv
import functools
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from conftest import REPO

from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine.checkpoint import load_checkpoint


def last_row(run: Path) -> dict:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))[-1]


@functools.cache
def shapes_dataset() -> Path:
    spec = SynthSpec(n_train=200, n_val=50, imgsz=160, classes=3, seed=0)
    return make_synthetic(Path(tempfile.mkdtemp(prefix="yoloarena-shapes-")), spec)


# Runs the CLI, with a fault at epoch 2's last.pt (the second last.pt written):
# - slow-save: torch.save writes a few bytes, then hangs (the test kills it mid-write);
# - kill-after-save: the process SIGKILLs itself right after the file is renamed into place;
# - full-disk: torch.save writes a few bytes, then fails with ENOSPC (a full disk).
DRIVER = """
import errno, os, signal, sys, time, torch
mode, saves = sys.argv[1], []
def target(f):
    return os.readlink(f"/proc/self/fd/{f.fileno()}")
if mode in ("slow-save", "full-disk"):
    real_save = torch.save
    def faulty(obj, f, *args, **kwargs):
        if ".last.pt." in target(f):
            saves.append(1)
            if len(saves) == 2:
                f.write(b"half a checkpoint"); f.flush()
                if mode == "full-disk":
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                print("SAVING", flush=True)
                time.sleep(120)
        return real_save(obj, f, *args, **kwargs)
    torch.save = faulty
if mode == "kill-after-save":
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if str(dst).endswith("last.pt"):
            saves.append(1)
            if len(saves) == 2:
                print("SAVED", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
from yoloarena.cli import main
sys.exit(main(sys.argv[2:]))
"""


@functools.cache
def dataset() -> Path:
    spec = SynthSpec(n_train=48, n_val=8, imgsz=96, classes=2, seed=3)
    return make_synthetic(Path(tempfile.mkdtemp(prefix="yoloarena-resume-")), spec)


def train_args(project: Path, name: str, epochs: int = 3) -> list[str]:
    return ["train", "model=yolov5n", f"data={dataset()}", f"epochs={epochs}", "imgsz=96",
            "batch=4", "workers=0", "seed=5", "nbs=4", "plots=False", f"project={project}",
            f"name={name}"]  # fmt: skip


def launch(mode: str, args: list[str], tmp: Path) -> subprocess.Popen:
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    return subprocess.Popen([sys.executable, str(driver), mode, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip


def run_to_end(mode: str, args: list[str], tmp: Path, code: int = 0) -> str:
    proc = launch(mode, args, tmp)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == code, out
    return out


def kill_when(proc: subprocess.Popen, marker: str) -> str:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


@functools.cache
def reference(project: str) -> dict[str, torch.Tensor]:
    run_to_end("plain", train_args(Path(project), "reference"), Path(project))
    return load_checkpoint(Path(project) / "reference" / "weights" / "last.pt")


def epochs_logged(run: Path) -> list[int]:
    """The epoch column of results.csv, in order."""
    with (run / "results.csv").open() as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def assert_same_weights(a: dict, b: dict) -> None:
    for part in ("state_dict",):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), k
    for k, v in a["train"]["model"].items():
        assert torch.equal(v, b["train"]["model"][k]), k


# Segmentation: yolov5n-seg started from the official detector (yolov5n.pt: every layer but the
# head's output convolutions; Proto from scratch), trained on the synthetic shapes with polygons.
SEG_RECIPE = {"optimizer": "AdamW", "lr0": 0.003, "nbs": 8, "warmup_epochs": 1.0, "scale": 0.25,
              "mosaic": 0.5}  # fmt: skip


@functools.cache
def seg_shapes_dataset() -> Path:
    spec = SynthSpec(n_train=120, n_val=30, imgsz=128, classes=3, seed=0, task="segment")
    return make_synthetic(Path(tempfile.mkdtemp(prefix="yoloarena-seg-shapes-")), spec)


@functools.cache
def trained_seg_run() -> Path:
    """The run folder of yolov5n-seg trained 10 epochs at 128 (once per test process: the
    learning, validation and export tests share it)."""
    from conftest import shared_path

    from yoloarena.engine.train_job import TrainConfig, run_train

    detector = shared_path("data", "weights", "yolov5n.pt")
    cfg = TrainConfig(model="yolov5n-seg", pretrained=str(detector), data=str(seg_shapes_dataset()),
                      epochs=10, imgsz=128, batch=8, workers=2, seed=0, name="seg",
                      project=tempfile.mkdtemp(prefix="yoloarena-seg-train-"))  # fmt: skip
    return run_train(cfg, SEG_RECIPE)
