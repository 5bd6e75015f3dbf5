"""Building blocks shared by the families. Attribute names follow the official checkpoints."""

from __future__ import annotations

import torch
from torch import nn

from .fuse import fuse_conv_bn


def same_padding(k: int, d: int = 1) -> int:
    """Padding that keeps the spatial size for an odd kernel k with dilation d."""
    return d * (k - 1) // 2


def make_divisible(x: float, divisor: int = 8) -> int:
    """The smallest multiple of divisor that is >= x."""
    return int(-(-x // divisor) * divisor)


class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> activation; keys `conv.*` and `bn.*`."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        d: int = 1,
        act: nn.Module | None = None,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.03,
    ) -> None:
        super().__init__()
        pad = same_padding(k, d) if p is None else p
        self.conv = nn.Conv2d(c1, c2, k, s, pad, dilation=d, groups=g, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2, eps=bn_eps, momentum=bn_momentum)
        self.act = nn.SiLU(inplace=True) if act is None else act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold the BatchNorm into the convolution (keys become conv.weight, conv.bias)."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = nn.Identity()


class Bottleneck(nn.Module):
    """1x1 conv to c2*e, 3x3 conv to c2, plus a residual when shortcut and c1 == c2."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = ConvBNAct(c1, hidden, 1)
        self.cv2 = ConvBNAct(hidden, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block with three convs: cat(m(cv1(x)), cv2(x)) -> cv3."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, e: float = 0.5) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = ConvBNAct(c1, hidden, 1)
        self.cv2 = ConvBNAct(c1, hidden, 1)
        self.cv3 = ConvBNAct(2 * hidden, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: one 5x5 max-pool applied three times in sequence."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        hidden = c1 // 2
        self.cv1 = ConvBNAct(c1, hidden, 1)
        self.cv2 = ConvBNAct(hidden * 4, c2, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    """Channel concatenation; a module only so that layer indices match the checkpoints."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)
