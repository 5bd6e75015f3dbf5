"""Distributed data-parallel training with torch.distributed, launched by torchrun.

    torchrun --nproc_per_node=2 -m yoloarena train model=yolov5n data=... batch=32
    yoloarena train ... device=0,1            # starts torchrun itself, one process per GPU
    torchrun --nnodes=2 --node_rank=0 --rdzv_backend=c10d --rdzv_endpoint=host:29500 \\
        --nproc_per_node=8 -m yoloarena train ...   # multi-node: torchrun's own flags

gloo on CPU, NCCL on GPU. `batch` is the total over all processes. Only rank 0 logs, validates
(on predictions gathered from every rank) and writes checkpoints. When one process raises,
torchrun stops the others.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..devices import check_device, is_cuda
from ..errors import YoloArenaError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_environment(device: str) -> DistInfo | None:
    """Join the process group torchrun describes in the environment; None when not under it.

    device: cpu (gloo) or any CUDA form (NCCL; each process takes the GPU of its local rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = is_cuda(device)
    if cuda:
        check_device("cuda")  # the list itself is CUDA_VISIBLE_DEVICES: one GPU per local rank
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
    if cuda:
        torch.cuda.set_device(local)
    return DistInfo(rank, world, local, torch.device(f"cuda:{local}" if cuda else "cpu"))


def wrap(module: nn.Module, info: DistInfo | None, sync_bn: bool = False) -> nn.Module:
    """module in DistributedDataParallel (SyncBatchNorm first when asked, on GPU only)."""
    if info is None:
        return module
    if sync_bn:
        if info.device.type != "cuda":
            raise YoloArenaError("sync_bn=True needs GPUs (torch's SyncBatchNorm is CUDA-only)")
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [info.local_rank] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def gather(obj: Any, info: DistInfo | None) -> list[Any]:
    """Every rank's obj, in rank order (on every rank)."""
    if info is None:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, info: DistInfo | None) -> Any:
    """Rank 0's obj on every rank."""
    if info is None:
        return obj
    box = [obj if info.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def torchrun_command(args: list[str], devices: list[int]) -> list[str]:
    """The torchrun command that runs `yoloarena train args` on these GPUs, one process each.

    Run it with CUDA_VISIBLE_DEVICES set to the devices: every process then asks for `cuda` and
    takes the GPU of its local rank."""
    rest = [a for a in args if not a.startswith("device=")]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={len(devices)}",
            "--standalone", "-m", "yoloarena", "train", *rest, "device=cuda"]  # fmt: skip
