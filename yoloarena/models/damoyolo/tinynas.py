"""TinyNAS backbones of DAMO-YOLO, built from the searched structures held as typed data.

- TinyNASRes (T, S): Focus stem, five residual stages (`block_list`), SPP after the first block
  of the last stage; outputs of stages 2, 4, 5 (strides 8, 16, 32).
- TinyNASCSP (M, L): Focus stem and CSP wrappers (`csp_stage`); stages 3 and 4 share one wrapper.
- TinyNASMob (Nano): plain stride-2 stem and MobileV3 blocks.

The structures themselves (released and searched) are data: see structure.py.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .blocks import (
    ConvKXBNRELU,
    Focus,
    MobileV3Block,
    ResConvBlock,
    SPPBottleneck,
)
from .structure import STRUCTURES, Stage, Structure

__all__ = ["STRUCTURES", "TinyNASCSP", "TinyNASMob", "TinyNASRes", "build_backbone"]


class StageBlocks(nn.Module):
    """A stage's units in `block_list`; the last stage gets SPP right after its first unit."""

    def __init__(self, stage: Stage, unit: Callable[[int, int], nn.Module], spp: bool) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(stage.depth):
            c_in, s = (stage.c_in, stage.stride) if i == 0 else (stage.c_out, 1)
            blocks.append(unit(c_in, s))
            if i == 0 and spp:
                blocks.append(SPPBottleneck(stage.c_out, stage.c_out))
        self.block_list = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block_list:
            x = block(x)
        return x


class _BlockListBackbone(nn.Module):
    """Stem and five stages in `block_list`; returns the outputs of stages 2, 4 and 5."""

    block_list: nn.ModuleList

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, block in enumerate(self.block_list):
            x = block(x)
            if i in (2, 4, 5):
                outs.append(x)
        return outs


class TinyNASRes(_BlockListBackbone):
    """T and S backbones: Focus stem, stages of ResConvBlock (k1kx)."""

    def __init__(self, structure: Structure, act: str = "relu") -> None:
        super().__init__()
        blocks: list[nn.Module] = [Focus(3, structure.stem, 3, act)]
        for i, st in enumerate(structure.stages):

            def unit(c_in: int, s: int, st: Stage = st) -> nn.Module:
                return ResConvBlock(c_in, st.c_out, st.btn, s, act, kxkx=False)

            blocks.append(StageBlocks(st, unit, spp=i == 4))
        self.block_list = nn.ModuleList(blocks)
        self.out_channels = structure.out_channels


class TinyNASMob(_BlockListBackbone):
    """Nano backbones: plain stride-2 3x3 stem, MobileV3 stages (expansion 3.5 + 0.5 i)."""

    def __init__(self, structure: Structure) -> None:
        super().__init__()
        blocks: list[nn.Module] = [ConvKXBNRELU(3, structure.stem, 3, 2, act="silu")]
        for i, st in enumerate(structure.stages):

            def unit(c_in: int, s: int, st: Stage = st, ratio: float = 3.5 + 0.5 * i) -> nn.Module:
                return MobileV3Block(c_in, st.c_out, ratio, s)

            blocks.append(StageBlocks(st, unit, spp=i == 4))
        self.block_list = nn.ModuleList(blocks)
        self.out_channels = structure.out_channels


class CSPWrapper(nn.Module):
    """M/L stage: down-sample (3x3 s2), [SPP], then cat(inner blocks(start(x)), shortcut(x))
    -> fuse. Its own convs use ReLU whatever the model's activation."""

    def __init__(self, c_in: int, c_out: int, inner: list[nn.Module], c_final: int, spp: bool):
        super().__init__()
        self.convstem = nn.ModuleList(inner)
        self.downsampler = ConvKXBNRELU(c_in, c_out, 3, 2)
        if spp:
            self.spp = SPPBottleneck(c_out, c_out)
        self.conv_start = ConvKXBNRELU(c_out, c_out // 2, 1)
        self.conv_shortcut = ConvKXBNRELU(c_out, c_out // 2, 1)
        self.conv_fuse = ConvKXBNRELU(c_out, c_final, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsampler(x)
        if hasattr(self, "spp"):
            x = self.spp(x)
        y = self.conv_start(x)
        for block in self.convstem:
            y = block(y)
        return self.conv_fuse(torch.cat((y, self.conv_shortcut(x)), 1))


class TinyNASCSP(nn.Module):
    """M and L backbones (kxkx inner blocks at half width inside CSP wrappers)."""

    def __init__(self, structure: Structure, act: str = "silu") -> None:
        super().__init__()
        s1, s2, s3, s4, s5 = structure.stages

        def inner(st: Stage, n: int) -> list[nn.Module]:
            half = st.c_out // 2
            return [ResConvBlock(half, half, st.btn, 1, act, kxkx=True) for _ in range(n)]

        merged = inner(s3, s3.depth - 1) + inner(s4, s4.depth)  # stages 3 and 4: one wrapper
        wrappers = [
            CSPWrapper(s1.c_in, s1.c_out, inner(s1, s1.depth - 1), s1.c_out, False),
            CSPWrapper(s2.c_in, s2.c_out, inner(s2, s2.depth - 1), s2.c_out, False),
            CSPWrapper(s3.c_in, s3.c_out, merged, s4.c_out, False),
            CSPWrapper(s5.c_in, s5.c_out, inner(s5, s5.depth - 1), s5.c_out, True),
        ]
        self.csp_stage = nn.ModuleList([Focus(3, structure.stem, 3, act), *wrappers])
        self.out_channels = structure.out_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, stage in enumerate(self.csp_stage):
            x = stage(x)
            if i in (2, 3, 4):
                outs.append(x)
        return outs


def build_backbone(structure: Structure, act: str) -> nn.Module:
    """The backbone a structure describes: k1kx -> TinyNASRes, kxkx -> TinyNASCSP (act: the
    model's activation), mobile -> TinyNASMob (SiLU, as the Nano models)."""
    if structure.type == "k1kx":
        return TinyNASRes(structure, act)
    if structure.type == "kxkx":
        return TinyNASCSP(structure, act)
    return TinyNASMob(structure)
