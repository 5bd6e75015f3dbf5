"""Issue 12, must-show 3: hostile but allow-listed checkpoints (cyclic and shared module trees,
absurd num_classes, zip bombs, huge declared or expanded storages) are refused with one line by
`yoloarena predict`, exit code 1, within 10 s and 1 GB.

Each load runs in a child process that first imports everything, then limits its address space
to what it uses plus 1 GB (RLIMIT_AS) and arms a 10 s alarm (SIGALRM kills it): a loader that
tried to allocate or walk what these files ask for would die or be killed instead of answering.
These are resource bounds; the time and memory each refusal took are printed for the record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, shared_path
from hostile_checkpoints import HOSTILE

from yoloarena.archive import byte_budget, check_loaded
from yoloarena.errors import WeightsError

CHILD = """
import json, resource, signal, sys, time
import yoloarena.engine.predict_job, yoloarena.loading, yoloarena.export.runtime
from yoloarena.cli import main
from yoloarena.registry import list_models
list_models()  # every family imported before the limits

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize"))

resource.setrlimit(resource.RLIMIT_AS, (vm_size() + (1 << 30), resource.RLIM_INFINITY))
signal.alarm(10)  # the default action of SIGALRM ends the process
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
code = main(["predict", f"model={sys.argv[1]}", f"source={sys.argv[2]}", f"project={sys.argv[3]}"])
seconds = time.perf_counter() - t0
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"code": code, "seconds": seconds, "rss_growth_mb": grown / 1024}))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_checkpoint_is_refused_within_bounds(hostile_dir, tmp_path, name) -> None:
    maker, message = HOSTILE[name]
    path = maker(hostile_dir)
    image = shared_path("data", "images", "bus.jpg")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(image), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # -14: the 10 s alarm
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert errors[0].startswith("yoloarena predict: error: ") and str(path) in errors[0]
    assert message in errors[0], errors[0]
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{name}: {path.stat().st_size} bytes refused in {record['seconds']:.2f} s, "
        f"peak RSS grew {record['rss_growth_mb']:.0f} MB"
    )
    assert not list(tmp_path.rglob("*.jpg"))  # nothing was predicted with it


def test_walk_budget_refuses_deep_and_huge_graphs(tmp_path) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(b"0" * 1000)
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(WeightsError, match="nested more than 1000 deep"):
        check_loaded({"a": deep}, path, byte_budget(1000))
    big = torch.zeros(1).expand(5_000_000)  # 20 MB as a view of 4 bytes
    with pytest.raises(
        WeightsError, match=r"tensors add up to more than 16\.8 MB from a 1 kB file"
    ):
        check_loaded({"w": big}, path, byte_budget(1000))
    shared = [torch.zeros(1000)] * 100_000  # one tensor referenced 100000 times: counted once
    check_loaded({"w": shared}, path, byte_budget(1000))


def test_real_checkpoints_pass_the_checks(tmp_path) -> None:
    """The official file, and our own files, load as before (the bounds are not in the way)."""
    import yoloarena
    from yoloarena.registry import build_model
    from yoloarena.weights import save_weights

    assert yoloarena.load(shared_path("data", "weights", "yolov5n.pt")).num_classes == 80
    own = save_weights(build_model("damoyolo-ns", num_classes=3), tmp_path / "own.pt")
    assert yoloarena.load(own).num_classes == 3
    legacy = tmp_path / "legacy.pth"
    model = build_model("damoyolo-ns", num_classes=3)
    torch.save({"model": model.state_dict()}, legacy, _use_new_zipfile_serialization=False)
    assert yoloarena.load(legacy).model_name == "damoyolo-ns"
    assert Path(legacy).stat().st_size > 1e6
