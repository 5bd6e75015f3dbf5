"""Efficient RepGFPN neck (GiraffeNeckV2): five CSP fusion nodes, extra down-sampling paths."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import DepthwiseConv, MobileV3Block, RepConv, conv_bn_act


class ReverseBottleneck(nn.Module):
    """x + conv1(conv2(x)): RepConv to the hidden width, then 3x3 conv back (no act after add).

    Nano (depthwise): a single MobileV3 block `conv` (ratio 3, its own residual).
    """

    def __init__(self, c: int, hidden: int, act: str, depthwise: bool) -> None:
        super().__init__()
        self.depthwise = depthwise
        if depthwise:
            self.conv = MobileV3Block(c, c, 3.0, 1, se_slot=False)
        else:
            self.conv1 = conv_bn_act(hidden, c, 3, 1, act)
            self.conv2 = RepConv(c, hidden, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.depthwise:
            return self.conv(x)
        return x + self.conv1(self.conv2(x))


class CSPStage(nn.Module):
    """conv1 (1x1) | conv2 (1x1) -> n bottlenecks; concat [conv1, every bottleneck] -> conv3."""

    def __init__(
        self, c_in: int, c_out: int, n: int, hidden_ratio: float, act: str, depthwise: bool
    ) -> None:
        super().__init__()
        first = c_out // 2
        mid = c_out - first
        self.conv1 = conv_bn_act(c_in, first, 1, 1, act)
        self.conv2 = conv_bn_act(c_in, mid, 1, 1, act)
        hidden = int(mid * hidden_ratio)
        self.convs = nn.ModuleList(ReverseBottleneck(mid, hidden, act, depthwise) for _ in range(n))
        self.conv3 = conv_bn_act(first + n * mid, c_out, 1, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.conv1(x)]
        y = self.conv2(x)
        for block in self.convs:
            y = block(y)
            outs.append(y)
        return self.conv3(torch.cat(outs, 1))


class GiraffeNeckV2(nn.Module):
    """(C3, C4, C5) -> (P3, P4, P5) at strides 8, 16, 32 via merge_3, 4, 5, 7, 6."""

    def __init__(
        self,
        c_in: Sequence[int],
        c_out: Sequence[int],
        depth: float,
        hidden_ratio: float,
        act: str,
        depthwise: bool = False,
    ) -> None:
        super().__init__()
        c3, c4, c5 = c_in
        o3, o4, o5 = c_out
        n = round(3 * depth)  # Python rounds halves to even: depth 1.5 -> 4

        def down(c: int) -> nn.Module:
            return DepthwiseConv(c, c, 3, 2, act) if depthwise else conv_bn_act(c, c, 3, 2, act)

        def csp(a: int, b: int) -> CSPStage:
            return CSPStage(a, b, n, hidden_ratio, act, depthwise)

        self.bu_conv13 = down(c4)
        self.merge_3 = csp(c5 + c4, c5)
        self.bu_conv24 = down(c3)
        self.merge_4 = csp(c4 + c3 + c5, c4)
        self.merge_5 = csp(c3 + c4, o3)
        self.bu_conv57 = down(o3)
        self.merge_7 = csp(c4 + o3, o4)
        self.bu_conv46 = down(c4)
        self.bu_conv76 = down(o4)
        self.merge_6 = csp(c5 + c4 + o4, o5)
        self.upsample = nn.Upsample(scale_factor=2.0, mode="nearest")

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        x3, x4, x5 = feats
        m3 = self.merge_3(torch.cat((x5, self.bu_conv13(x4)), 1))
        m4 = self.merge_4(torch.cat((x4, self.bu_conv24(x3), self.upsample(m3)), 1))
        m5 = self.merge_5(torch.cat((x3, self.upsample(m4)), 1))
        m7 = self.merge_7(torch.cat((m4, self.bu_conv57(m5)), 1))
        m6 = self.merge_6(torch.cat((m3, self.bu_conv46(m4), self.bu_conv76(m7)), 1))
        return [m5, m7, m6]
