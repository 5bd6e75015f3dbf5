"""DAMO-YOLO building blocks. Attribute names follow the official checkpoints exactly.

Every BatchNorm has eps 1e-3 and momentum 0.03 (the family-wide setting).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.blocks import ConvBNAct
from ...nn.fuse import fuse_conv_bn

BN_EPS, BN_MOMENTUM = 1e-3, 0.03


def make_act(name: str) -> nn.Module:
    acts = {"relu": lambda: nn.ReLU(inplace=True), "silu": lambda: nn.SiLU(inplace=True)}
    return acts[name]() if name in acts else nn.Identity()


def bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def conv_bn_act(
    c1: int, c2: int, k: int = 1, s: int = 1, act: str = "relu", g: int = 1
) -> ConvBNAct:
    """Conv -> BN -> act with keys `conv.*`, `bn.*` (the neck/SPP/Focus unit)."""
    return ConvBNAct(c1, c2, k, s, g=g, act=make_act(act), bn_eps=BN_EPS, bn_momentum=BN_MOMENTUM)


class ConvKXBN(nn.Module):
    """Conv -> BN without activation; keys `conv1.*`, `bn1.*` (backbone unit)."""

    def __init__(self, c1: int, c2: int, k: int, s: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c1, c2, k, s, (k - 1) // 2, bias=False)
        self.bn1: nn.Module = bn(c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv1(x))

    def fuse(self) -> None:
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.conv1, self.bn1 = fuse_conv_bn(self.conv1, self.bn1), nn.Identity()


class ConvKXBNRELU(nn.Module):
    """A ConvKXBN named `conv`, then an activation (ReLU unless told otherwise)."""

    def __init__(self, c1: int, c2: int, k: int, s: int = 1, act: str = "relu") -> None:
        super().__init__()
        self.conv = ConvKXBN(c1, c2, k, s)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class RepConv(nn.Module):
    """RepVGG-style 3x3 + 1x1 branches (each conv+BN), summed, then act; no identity branch.

    `fuse()` re-parameterises both branches into one 3x3 conv `rbr_reparam` with bias.
    """

    def __init__(self, c1: int, c2: int, s: int = 1, act: str = "relu") -> None:
        super().__init__()
        self.rbr_dense = conv_bn_act(c1, c2, 3, s, act="identity")
        self.rbr_1x1 = ConvBNAct(
            c1, c2, 1, s, p=0, act=nn.Identity(), bn_eps=BN_EPS, bn_momentum=BN_MOMENTUM
        )
        self.act = make_act(act)
        self.rbr_reparam: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rbr_reparam is not None:
            return self.act(self.rbr_reparam(x))
        return self.act(self.rbr_dense(x) + self.rbr_1x1(x))

    @torch.no_grad()
    def fuse(self) -> None:
        if self.rbr_reparam is not None:
            return
        w3, b3 = _branch(self.rbr_dense)
        w1, b1 = _branch(self.rbr_1x1)
        dense = self.rbr_dense.conv
        conv = nn.Conv2d(dense.in_channels, dense.out_channels, 3, dense.stride, 1, bias=True)
        conv = conv.to(device=w3.device, dtype=w3.dtype)
        conv.weight.copy_(w3 + F.pad(w1, [1, 1, 1, 1]))
        conv.bias.copy_(b3 + b1)
        conv.requires_grad_(False)
        del self.rbr_dense, self.rbr_1x1
        self.rbr_reparam = conv


def _branch(unit: ConvBNAct) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernel and bias of conv+BN (or of an already folded conv)."""
    conv, norm = unit.conv, unit.bn
    if not isinstance(norm, nn.BatchNorm2d):
        return conv.weight, conv.bias
    std = (norm.running_var + norm.eps).sqrt()
    t = (norm.weight / std).reshape(-1, 1, 1, 1)
    return conv.weight * t, norm.bias - norm.running_mean * norm.weight / std


class Focus(nn.Module):
    """Space-to-depth x2 (channel order: even/even, odd/even, even/odd, odd/odd), then conv."""

    def __init__(self, c1: int, c2: int, k: int = 3, act: str = "relu") -> None:
        super().__init__()
        self.conv = conv_bn_act(c1 * 4, c2, k, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tl, bl = x[..., ::2, ::2], x[..., 1::2, ::2]
        tr, br = x[..., ::2, 1::2], x[..., 1::2, 1::2]
        return self.conv(torch.cat((tl, bl, tr, br), 1))


class SPPBottleneck(nn.Module):
    """1x1 conv to c/2, max-pools 5/9/13 concatenated with the input, 1x1 conv; always SiLU."""

    def __init__(self, c1: int, c2: int, kernels: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = c1 // 2
        self.conv1 = conv_bn_act(c1, hidden, 1, act="silu")
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.conv2 = conv_bn_act(hidden * (len(kernels) + 1), c2, 1, act="silu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x, *(m(x) for m in self.m)], 1))


class ResConvBlock(nn.Module):
    """Searched residual unit: conv1 (1x1 for k1kx, 3x3 for kxkx) -> act -> RepConv (no act)
    -> + input (stride 1 only) -> act."""

    def __init__(self, c1: int, c2: int, btn: int, s: int, act: str, kxkx: bool) -> None:
        super().__init__()
        self.conv1 = ConvKXBN(c1, btn, 3 if kxkx else 1)
        self.conv2 = RepConv(btn, c2, s, act="identity")
        self.act = make_act(act)
        self.residual = s != 2
        if self.residual and c1 != c2:
            self.residual_proj = ConvKXBN(c1, c2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act(self.conv1(x)))
        if self.residual:
            y = y + (self.residual_proj(x) if hasattr(self, "residual_proj") else x)
        return self.act(y)


def nano_divisible(v: float) -> int:
    """Round to a multiple of 8 (at least 8) without going below 90% of v."""
    out = max(8, int(v + 4) // 8 * 8)
    return out + 8 if out < 0.9 * v else out


class MobileV3Block(nn.Module):
    """1x1 expand -> BN -> act -> 5x5 depthwise -> BN -> [SE slot] -> act -> 1x1 -> BN,
    + input when stride 1 and c1 == c2. Stored as the Sequential `conv`."""

    def __init__(self, c1: int, c2: int, ratio: float, s: int = 1, se_slot: bool = True) -> None:
        super().__init__()
        e = nano_divisible(math.ceil(c2 * ratio))
        layers = [nn.Conv2d(c1, e, 1, bias=False), bn(e), nn.SiLU(inplace=True),
                  nn.Conv2d(e, e, 5, s, 2, groups=e, bias=False), bn(e)]  # fmt: skip
        if se_slot:
            layers.append(nn.Identity())
        layers += [nn.SiLU(inplace=True), nn.Conv2d(e, c2, 1, bias=False), bn(c2)]
        self.conv = nn.Sequential(*layers)
        self.residual = s == 1 and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)

    def fuse(self) -> None:
        _fuse_sequential(self.conv)


def _fuse_sequential(seq: nn.Sequential) -> None:
    """Fold every BatchNorm that directly follows a Conv2d in seq (BN becomes Identity)."""
    for i in range(len(seq) - 1):
        if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
            seq[i], seq[i + 1] = fuse_conv_bn(seq[i], seq[i + 1]), nn.Identity()


class DepthwiseConv(nn.Module):
    """Nano down-sampler: depthwise kxk (stride s) -> BN -> act -> pointwise 1x1 -> BN -> act."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 2, act: str = "silu") -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c1, c1, k, s, (k - 1) // 2, groups=c1, bias=False)
        self.pointwise = nn.Conv2d(c1, c2, 1, bias=False)
        self.dwnorm: nn.Module = bn(c1)
        self.pwnorm: nn.Module = bn(c2)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.dwnorm(self.depthwise(x)))
        return self.act(self.pwnorm(self.pointwise(x)))

    def fuse(self) -> None:
        if isinstance(self.dwnorm, nn.BatchNorm2d):
            self.depthwise, self.dwnorm = fuse_conv_bn(self.depthwise, self.dwnorm), nn.Identity()
            self.pointwise, self.pwnorm = fuse_conv_bn(self.pointwise, self.pwnorm), nn.Identity()
