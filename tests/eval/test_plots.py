"""Issue 12: importing and using the plotting code leaves matplotlib's backend (a notebook's)
alone: no matplotlib.use() at import, no pyplot; figures are rendered with Agg explicitly."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

SCRIPT = """
import sys
from pathlib import Path
import matplotlib
matplotlib.use("svg")  # what a notebook or a user chose
import numpy as np
import yoloarena.eval.plots, yoloarena.engine.train_plots, yoloarena.engine.val_job
import yoloarena.bench.charts, yoloarena.bench.compare, yoloarena.engine.trainer
from yoloarena.bench.charts import plot_pr_curves
from yoloarena.engine.train_plots import plot_results
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
out = sys.argv[1]
plot_pr_curves({"a": np.linspace(1, 0, 101)}, out + "/pr.png")
with open(out + "/results.csv", "w") as f:
    f.write("epoch,train/box,metrics/AP50\\n1,0.5,0.1\\n2,0.4,0.2\\n")
plot_results(Path(out) / "results.csv", Path(out) / "results.png")
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
print("pyplot imported:", "matplotlib.pyplot" in sys.modules)
"""


def test_plotting_keeps_the_users_matplotlib_backend(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MPLBACKEND", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pyplot imported: False" in proc.stdout
    for name in ("pr.png", "results.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # rendered as PNG
