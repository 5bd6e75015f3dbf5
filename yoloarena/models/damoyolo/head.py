"""ZeroHead: per level one conv for class logits and one for DFL box-distance logits.

Decoding: softmax over reg_max + 1 bins per side (l, t, r, b), expectation times the stride,
measured from the prior point (column * stride, row * stride): the cell corner, no +0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class Scale(nn.Module):
    """A learnable scalar (key `scale`, a 0-d tensor)."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(value, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class Integral(nn.Module):
    """Expected value of a distribution over the bins 0..reg_max (buffer `project`)."""

    def __init__(self, reg_max: int) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("project", torch.linspace(0, reg_max, reg_max + 1))

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        """[..., 4, reg_max + 1] probabilities -> [..., 4] distances in bins."""
        # a 2-D weight (not a 1-D vector): OpenVINO's MatMul fusion rejects a vector operand
        return F.linear(probs, self.project.to(probs.dtype)[None]).squeeze(-1)


class ZeroHead(nn.Module):
    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int],
        strides: Sequence[int],
        reg_max: int = 16,
        kernel: int = 3,
    ) -> None:
        super().__init__()
        self.nc, self.reg_max, self.strides = num_classes, reg_max, tuple(strides)
        self.integral = Integral(reg_max)
        pad = kernel // 2
        self.gfl_cls = nn.ModuleList(
            nn.Conv2d(c, num_classes, kernel, padding=pad) for c in channels
        )
        self.gfl_reg = nn.ModuleList(
            nn.Conv2d(c, 4 * (reg_max + 1), kernel, padding=pad) for c in channels
        )
        self.scales = nn.ModuleList(Scale(1.0) for _ in channels)
        self._priors: dict[tuple, torch.Tensor] = {}

    @torch.no_grad()
    def initialize(self, prior_prob: float = 0.01) -> None:
        """Training-from-scratch init: N(0, 0.01) weights, class bias for a 1% prior."""
        for conv in [*self.gfl_cls, *self.gfl_reg]:
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        for conv in self.gfl_cls:
            nn.init.constant_(conv.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per level [N, nc + 4 (reg_max + 1), H, W]: class logits, then scaled box logits."""
        out = []
        for i, x in enumerate(feats):
            cls = self.gfl_cls[i](x)
            reg = self.scales[i](self.gfl_reg[i](x)).float()
            out.append(torch.cat((cls.to(reg.dtype), reg), 1))
        return out

    def priors(self, h: int, w: int, stride: int, like: torch.Tensor) -> torch.Tensor:
        """[h * w, 2] prior points (x, y) in pixels, row-major; cached per size/device."""
        key = (h, w, stride, like.device)
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if key not in self._priors or tracing:
            ys = torch.arange(h, device=like.device, dtype=torch.float32) * stride
            xs = torch.arange(w, device=like.device, dtype=torch.float32) * stride
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            points = torch.stack((xx.reshape(-1), yy.reshape(-1)), 1)
            if tracing:
                return points
            self._priors[key] = points
        return self._priors[key]

    def decode(self, levels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores [N, A, nc] after sigmoid, boxes [N, A, 4] xyxy input pixels), all levels.

        The levels are flattened and concatenated first, so one sigmoid, one softmax and one
        integral decode every level at once."""
        n, r1 = levels[0].shape[0], self.reg_max + 1
        flat = torch.cat([lv.flatten(2) for lv in levels], 2)  # [N, nc + 4 r1, A]
        scores = flat[:, : self.nc].sigmoid().transpose(1, 2)
        probs = flat[:, self.nc :].reshape(n, 4, r1, -1).softmax(2).permute(0, 3, 1, 2)
        points, stride = self._all_priors(levels)
        dist = self.integral(probs) * stride  # [N, A, 4] l, t, r, b
        return scores, torch.cat((points - dist[..., :2], points + dist[..., 2:]), -1)

    def _all_priors(self, levels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(prior points [A, 2], stride [A, 1]) of every level, in decode's row order."""
        points, strides = [], []
        for level, stride in zip(levels, self.strides, strict=True):
            h, w = level.shape[2], level.shape[3]
            points.append(self.priors(h, w, stride, level))
            strides.append(torch.full_like(points[-1][:, :1], stride))
        return torch.cat(points), torch.cat(strides)
