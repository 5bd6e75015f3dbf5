"""Exponential moving average of the model weights, with a ramp at the start of training."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """ema = d * ema + (1 - d) * model for every floating state entry; d ramps up to decay."""

    def __init__(
        self, model: nn.Module, decay: float = 0.9999, tau: float = 2000, updates: int = 0
    ):
        self.ema = copy.deepcopy(model).eval()
        self.ema.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        own = model.state_dict()
        for key, value in self.ema.state_dict().items():
            if value.dtype.is_floating_point:  # integer buffers (num_batches_tracked) stay
                value.mul_(d).add_(own[key].detach(), alpha=1 - d)
