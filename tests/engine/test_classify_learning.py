"""Issue 16, must-show 4: classifiers learn with the engine's classify recipe; and the same
training under torchrun (2 gloo processes): one results line per epoch, only rank 0 writes."""

from __future__ import annotations

import csv
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO

from yoloarena.cli import main
from yoloarena.data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic


@functools.cache
def shapes() -> Path:
    """400 training and 100 validation images of 4 shapes (circle, square, star, triangle), one
    per image, on plain noisy backdrops, 64 px."""
    spec = ClassifySynthSpec(n_train=100, n_val=25, imgsz=64, classes=4, seed=0, clutter=False)
    return make_classify_synthetic(Path(tempfile.mkdtemp(prefix="yoloarena-cls-shapes-")), spec)


def rows(run: Path) -> list[dict]:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "lr0"), [("yolov5n-cls", 0.002), ("damoyolo-t-cls", 0.001)])
def test_classifier_learns_shapes(name: str, lr0: float, tmp_path) -> None:
    """From random init, the classify recipe (Adam, label smoothing 0.1, EMA, linear decay) with
    a lighter crop (area 0.5-1), 15 epochs of 25 batches at 32 px: top-1 on the 100 validation
    images must reach 0.8 (4 classes: chance is 0.25). damoyolo-t-cls takes lr0 0.001: at 0.002
    its run depended on the thread count (best top-1 0.86 with 1 thread, 0.51 with 2); at 0.001 it
    reached 0.95 (1 thread) and 0.93 (2 threads), above 0.8 from epoch 12 in both."""
    args = ["train", f"model={name}", f"data={shapes()}", "epochs=15", "imgsz=32", "batch=16",
            "workers=0", "seed=0", "scale_range=0.5,1.0", f"lr0={lr0}", "plots=False",
            f"project={tmp_path}", "name=learn"]  # fmt: skip
    assert main(args) == 0
    got = rows(tmp_path / "learn")
    assert len(got) == 15
    assert float(got[0]["metrics/top1"]) < 0.5  # it starts near chance ...
    assert max(float(r["metrics/top1"]) for r in got) >= 0.8  # ... and learns the shapes


DRIVER = "import sys\nfrom yoloarena.cli import main\nsys.exit(main(sys.argv[1:]))\n"


@pytest.mark.slow
def test_torchrun_trains_a_classifier(tmp_path) -> None:
    spec = ClassifySynthSpec(n_train=6, n_val=3, imgsz=40, classes=3, seed=2)
    data = make_classify_synthetic(tmp_path / "data", spec)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(driver), "train", "model=yolov5n-cls", f"data={data}", "epochs=2", "imgsz=32",
           "batch=6", "workers=0", "plots=False", f"project={tmp_path}", "name=ddp"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert [r["epoch"] for r in rows(tmp_path / "ddp")] == ["1", "2"]
    assert out.count("training yolov5n-cls for 2 epochs") == 1 and "2 processes" in out
    assert (tmp_path / "ddp" / "weights" / "last.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if (p / "weights").is_dir()) == ["ddp"]
