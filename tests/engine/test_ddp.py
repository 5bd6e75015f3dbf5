"""Issue 6, must-show 3: DDP on CPU (gloo) equals one process accumulating the per-rank
micro-batches; torchrun end to end; a failing rank ends the job."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import REPO

from yoloarena.data.synthetic import SynthSpec, make_synthetic
from yoloarena.engine import ddp
from yoloarena.registry import build_model
from yoloarena.structures import BatchTargets

WORLD = 2


def micro_batch(rank: int, model_name: str) -> tuple[torch.Tensor, BatchTargets]:
    g = torch.Generator().manual_seed(100 + rank)
    scale = 255.0 if model_name.startswith("damoyolo") else 1.0
    images = torch.rand(2, 3, 96, 96, generator=g) * scale
    xy = torch.rand(3, 2, generator=g) * 50
    boxes = torch.cat((xy, xy + 20 + torch.rand(3, 2, generator=g) * 20), 1)
    return images, BatchTargets(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]), boxes, (96, 96))


def fresh_model(name: str):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).train()
    model.configure_criterion(None if name.startswith("damoyolo") else _hyp(), 96)
    return model


def _hyp():
    from yoloarena.hyp import get_hyp

    return get_hyp("yolov5")


def one_step(model, net, batches, world: int):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    opt.zero_grad()
    for images, targets in batches:
        loss = model.criterion(net(images), targets)["total"] * world  # the trainer's rule
        loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    return grads, {n: p.detach().clone() for n, p in model.named_parameters()}


def _worker(rank: int, port: int, name: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD),
                      RANK=str(rank), LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    info = ddp.from_environment("cpu")
    model = fresh_model(name)
    net = ddp.wrap(model, info)
    grads, params = one_step(model, net, [micro_batch(rank, name)], WORLD)
    torch.save({"grads": grads, "params": params}, Path(out) / f"rank{rank}.pt")
    ddp.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("name", ["yolov5n", "damoyolo-ns"])
def test_two_gloo_processes_equal_one_process_accumulating(tmp_path, name: str) -> None:
    mp.spawn(_worker, args=(free_port(), name, str(tmp_path)), nprocs=WORLD, join=True)
    model = fresh_model(name)
    ref_grads, ref_params = one_step(model, model, [micro_batch(r, name) for r in range(WORLD)], 1)
    # float32 sums in another order: compare with a tolerance relative to the largest gradient
    scale = max(g.abs().max().item() for g in ref_grads.values())
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for key, g in ref_grads.items():
            torch.testing.assert_close(got["grads"][key], g, rtol=1e-4, atol=1e-5 * scale)
        for key, p in ref_params.items():
            torch.testing.assert_close(got["params"][key], p, rtol=1e-5, atol=1e-7)


def tiny_data() -> Path:
    return make_synthetic(Path(tempfile.mkdtemp(prefix="yoloarena-ddp-")),
                          SynthSpec(n_train=16, n_val=6, imgsz=64, classes=2, seed=4))  # fmt: skip


DRIVER = """
import os, sys
if os.environ.get("RANK") == "1" and sys.argv[1] == "fail":
    from yoloarena.models.yolov5.model import YOLOv5
    real, calls = YOLOv5.criterion, []
    def failing(self, output, targets):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("rank 1 broke on purpose")
        return real(self, output, targets)
    YOLOv5.criterion = failing
from yoloarena.cli import main
sys.exit(main(sys.argv[2:]))
"""


def torchrun(
    mode: str, args: list[str], tmp: Path, timeout: int = 300
) -> subprocess.CompletedProcess:
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD}",
           "--standalone", str(driver), mode, *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.slow
def test_torchrun_trains_and_only_rank0_writes(tmp_path) -> None:
    args = ["train", "model=yolov5n", f"data={tiny_data()}", "epochs=2", "imgsz=64", "batch=4",
            "workers=0", "plots=False", f"project={tmp_path}", "name=ddp"]  # fmt: skip
    proc = torchrun("ok", args, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = tmp_path / "ddp"
    assert sorted(p.name for p in tmp_path.iterdir() if (p / "weights").is_dir()) == ["ddp"]
    with (run / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]  # one line per epoch, not one per rank
    assert all(0 <= float(r["metrics/AP50"]) <= 1 for r in rows)
    assert (run / "weights" / "last.pt").is_file()
    assert (proc.stdout + proc.stderr).count("training yolov5n for 2 epochs") == 1
    assert "2 processes" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_failing_rank_ends_the_job(tmp_path) -> None:
    args = ["train", "model=yolov5n", f"data={tiny_data()}", "epochs=3", "imgsz=64", "batch=4",
            "workers=0", "plots=False", f"project={tmp_path}", "name=fail"]  # fmt: skip
    proc = torchrun("fail", args, tmp_path, timeout=240)
    assert proc.returncode != 0
    assert "rank 1 broke on purpose" in proc.stdout + proc.stderr


def test_device_list_launches_torchrun() -> None:
    cmd = ddp.torchrun_command(["model=yolov5n", "device=0,1", "epochs=3"], [0, 1])
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--nproc_per_node=2"]
    # every process asks for cuda and takes its local rank's GPU (CUDA_VISIBLE_DEVICES=0,1)
    assert cmd[-5:] == ["yoloarena", "train", "model=yolov5n", "epochs=3", "device=cuda"]
