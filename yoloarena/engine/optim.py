"""Optimiser with three parameter groups, and the learning-rate / momentum schedule.

Groups, in order: 0 = biases (no decay), 1 = other weights (decay), 2 = normalisation weights
(no decay). The schedule is a pure function of (epoch, iteration), so nothing about it needs to be
saved to resume exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..hyp import Hyp

_NORMS = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def param_groups(model: nn.Module) -> tuple[list, list, list]:
    """(biases, decayed weights, normalisation weights) of the trainable parameters."""
    biases, weights, norms = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                biases.append(p)
            elif isinstance(module, _NORMS):
                norms.append(p)
            else:
                weights.append(p)
    return biases, weights, norms


def build_optimizer(model: nn.Module, hyp: Hyp, weight_decay: float) -> torch.optim.Optimizer:
    biases, weights, norms = param_groups(model)
    if hyp.optimizer == "SGD":
        opt = torch.optim.SGD(biases, lr=hyp.lr0, momentum=hyp.momentum, nesterov=True)
    elif hyp.optimizer == "AdamW":
        opt = torch.optim.AdamW(biases, lr=hyp.lr0, betas=(hyp.momentum, 0.999), weight_decay=0.0)
    else:
        opt = torch.optim.Adam(biases, lr=hyp.lr0, betas=(hyp.momentum, 0.999))
    opt.add_param_group({"params": weights, "weight_decay": weight_decay})
    opt.add_param_group({"params": norms, "weight_decay": 0.0})
    for group in opt.param_groups:
        group["initial_lr"] = hyp.lr0
    return opt


class Schedule:
    """lr and momentum per (epoch, global iteration), with warmup, for every group."""

    def __init__(self, hyp: Hyp, epochs: int, iters_per_epoch: int, batch: int) -> None:
        self.hyp, self.epochs, self.nb, self.batch = hyp, epochs, iters_per_epoch, batch
        iters = hyp.warmup_epochs * iters_per_epoch
        if hyp.warmup_epochs <= 0:
            self.warmup_iters = 0
        elif hyp.warmup == "quadratic":  # DAMO-YOLO: exactly the warmup epochs
            self.warmup_iters = round(iters)
        else:  # YOLOv5: at least 100 iterations
            self.warmup_iters = max(round(iters), 100)
        self.max_accumulate = max(round(hyp.nbs / batch), 1) if hyp.nbs > 0 else 1

    def factor(self, epoch: float) -> float:
        """Learning-rate multiplier (1 at the start, lrf at the end).

        linear and cosine change once per epoch (YOLOv5); cosine_flat changes every iteration,
        from the end of warmup to the start of the last no_aug_epochs, then stays (DAMO-YOLO).
        """
        h, total = self.hyp, max(self.epochs, 1)
        if h.schedule == "linear":
            return (1 - int(epoch) / total) * (1.0 - h.lrf) + h.lrf
        if h.schedule == "cosine":
            return ((1 - math.cos(int(epoch) * math.pi / total)) / 2) * (h.lrf - 1) + 1
        start = self.warmup_iters / max(self.nb, 1)
        span = max(total - h.no_aug_epochs - start, 1e-9)
        e = min(max(epoch - start, 0.0), span)
        return ((1 - math.cos(e * math.pi / span)) / 2) * (h.lrf - 1) + 1

    def accumulate(self, ni: int) -> int:
        """Batches per optimiser step at global iteration ni (ramps to nbs / batch in warmup)."""
        if ni <= self.warmup_iters:
            return max(
                1, round(float(np.interp(ni, [0, self.warmup_iters], [1, self.max_accumulate])))
            )
        return self.max_accumulate

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, ni: int) -> None:
        """Set lr (and momentum) of every group for global iteration ni in epoch."""
        h = self.hyp
        target = h.lr0 * self.factor(ni / max(self.nb, 1) if h.schedule == "cosine_flat" else epoch)
        for j, group in enumerate(optimizer.param_groups):
            lr, momentum = target, h.momentum
            if ni <= self.warmup_iters and self.warmup_iters:
                x = [0, self.warmup_iters]
                if h.warmup == "quadratic":
                    lr = target * (ni / self.warmup_iters) ** 2
                else:
                    start = h.warmup_bias_lr if j == 0 else 0.0
                    lr = float(np.interp(ni, x, [start, target]))
                momentum = float(np.interp(ni, x, [h.warmup_momentum, h.momentum]))
            group["lr"] = lr
            if "momentum" in group:
                group["momentum"] = momentum
            elif "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
