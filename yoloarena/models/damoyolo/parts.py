"""A DAMO-YOLO detector as a list of parts: the unit a latency table times, with its convolutions.

Every part is a module with its input shapes (the stem, each residual or mobile unit, SPP, each
CSP wrapper conv, and neck + head + decode as one part); its key names it completely, so equal
keys are equal modules on equal inputs. From the convolutions (in deployed form: BatchNorm
folded, RepConv re-parameterised, so every conv has a bias) come the params and FLOPs that
`benchmark` reports (2 per multiply-accumulate, as torch.utils.flop_counter counts them), without
building anything: what a search needs to check thousands of candidates against a budget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from ...nn.fuse import fuse_model
from .blocks import ConvKXBNRELU, Focus, MobileV3Block, ResConvBlock, SPPBottleneck, nano_divisible
from .madnas import mobile_expansion
from .model import DamoVariant, neck_and_head
from .structure import Structure
from .variants import VARIANTS

Shape = tuple[int, int, int]  # C, H, W of one input


@dataclass(frozen=True)
class Conv:
    """A deployed convolution (with bias) on an h x w input."""

    c_in: int
    c_out: int
    k: int
    s: int
    h: int
    w: int
    groups: int = 1

    @property
    def out_hw(self) -> tuple[int, int]:
        pad = self.k // 2
        return (
            (self.h + 2 * pad - self.k) // self.s + 1,
            (self.w + 2 * pad - self.k) // self.s + 1,
        )

    @property
    def params(self) -> int:
        return self.c_out * (self.c_in // self.groups) * self.k * self.k + self.c_out

    @property
    def flops(self) -> int:
        ho, wo = self.out_hw
        return 2 * self.c_out * ho * wo * (self.c_in // self.groups) * self.k * self.k


@dataclass(frozen=True)
class Part:
    kind: str
    args: tuple
    inputs: tuple[Shape, ...]
    convs: tuple[Conv, ...]
    extra_params: int = 0  # head scales
    extra_flops: int = 0  # the head's DFL integral (a matmul)

    @functools.cached_property
    def key(self) -> str:
        args = ",".join(map(str, self.args))
        shapes = ",".join("x".join(map(str, s)) for s in self.inputs)
        return f"{self.kind}({args})@{shapes}"

    @functools.cached_property
    def params(self) -> int:
        return sum(c.params for c in self.convs) + self.extra_params

    @functools.cached_property
    def flops(self) -> int:
        return sum(c.flops for c in self.convs) + self.extra_flops


def _half(h: int) -> int:
    return (h - 1) // 2 + 1  # a 3x3 stride-2 conv with padding 1


@functools.lru_cache(maxsize=65536)
def _res_unit(c_in: int, c_out: int, btn: int, s: int, act: str, kxkx: bool, h: int) -> Part:
    convs = [Conv(c_in, btn, 3 if kxkx else 1, 1, h, h), Conv(btn, c_out, 3, s, h, h)]
    if s != 2 and c_in != c_out:
        convs.append(Conv(c_in, c_out, 1, 1, h, h))
    return Part("res", (c_in, c_out, btn, s, act, kxkx), ((c_in, h, h),), tuple(convs))


@functools.lru_cache(maxsize=65536)
def _mob_unit(c_in: int, c_out: int, stage: int, s: int, h: int) -> Part:
    e = mobile_expansion(c_out, stage)
    ho = _half(h) if s == 2 else h
    convs = (Conv(c_in, e, 1, 1, h, h), Conv(e, e, 5, s, h, h, groups=e),
             Conv(e, c_out, 1, 1, ho, ho))  # fmt: skip
    return Part("mob", (c_in, c_out, stage, s), ((c_in, h, h),), convs)


@functools.lru_cache(maxsize=65536)
def _spp(c: int, h: int) -> Part:
    hidden = c // 2
    convs = (Conv(c, hidden, 1, 1, h, h), Conv(4 * hidden, c, 1, 1, h, h))
    return Part("spp", (c,), ((c, h, h),), convs)


@functools.lru_cache(maxsize=65536)
def _csp_conv(c_in: int, c_out: int, k: int, s: int, h: int) -> Part:
    return Part("cspconv", (c_in, c_out, k, s), ((c_in, h, h),), (Conv(c_in, c_out, k, s, h, h),))


def _stem(st: Structure, act: str, imgsz: int) -> Part:
    if st.type == "mobile":  # plain 3x3 stride-2 conv on the image
        return Part(
            "stem", (st.stem,), ((3, imgsz, imgsz),), (Conv(3, st.stem, 3, 2, imgsz, imgsz),)
        )
    h = imgsz // 2  # Focus: space-to-depth, then a 3x3 conv on 12 channels
    return Part("focus", (st.stem, act), ((3, imgsz, imgsz),), (Conv(12, st.stem, 3, 1, h, h),))


@functools.lru_cache(maxsize=65536)
def backbone_parts(st: Structure, act: str, imgsz: int) -> tuple[Part, ...]:
    """The backbone's parts in execution order (act: the model's activation)."""
    parts = [_stem(st, act, imgsz)]
    h = imgsz // 2
    if st.type == "kxkx":
        return tuple(parts + _csp_parts(st, act, h))
    for i, stage in enumerate(st.stages):
        for j in range(stage.depth):
            c_in, s = (stage.c_in, stage.stride) if j == 0 else (stage.c_out, 1)
            if st.type == "mobile":
                parts.append(_mob_unit(c_in, stage.c_out, i, s, h))
            else:
                parts.append(_res_unit(c_in, stage.c_out, stage.btn, s, act, False, h))
            h = _half(h) if s == 2 else h
            if i == 4 and j == 0:
                parts.append(_spp(stage.c_out, h))
    return tuple(parts)


def _csp_parts(st: Structure, act: str, h: int) -> list[Part]:
    """M/L: four CSP wrappers (stages 3 and 4 share one); inner kxkx units at half width."""
    s1, s2, s3, s4, s5 = st.stages
    groups = [
        (s1, [s1.btn] * (s1.depth - 1), s1.c_out, False),
        (s2, [s2.btn] * (s2.depth - 1), s2.c_out, False),
        (s3, [s3.btn] * (s3.depth - 1) + [s4.btn] * s4.depth, s4.c_out, False),
        (s5, [s5.btn] * (s5.depth - 1), s5.c_out, True),
    ]
    parts = []
    for stage, btns, c_final, spp in groups:
        c, half = stage.c_out, stage.c_out // 2
        parts.append(_csp_conv(stage.c_in, c, 3, 2, h))
        h = _half(h)
        if spp:
            parts.append(_spp(c, h))
        parts.append(_csp_conv(c, half, 1, 1, h))  # conv_start
        parts += [_res_unit(half, half, btn, 1, act, True, h) for btn in btns]
        parts.append(_csp_conv(c, half, 1, 1, h))  # conv_shortcut
        parts.append(_csp_conv(c, c_final, 1, 1, h))  # conv_fuse
    return parts


@functools.lru_cache(maxsize=4096)
def neck_head_part(c_in: tuple[int, int, int], neck: str, num_classes: int, imgsz: int) -> Part:
    """RepGFPN neck + ZeroHead + decode of the released model `neck` on inputs of widths c_in."""
    variant = VARIANTS[neck]
    c3, c4, c5 = c_in
    o3, o4, o5 = variant.neck_out
    h8, h16, h32 = imgsz // 8, imgsz // 16, imgsz // 32
    n = round(3 * variant.depth)
    convs: list[Conv] = []

    def down(c: int, h: int) -> None:
        if variant.nano:  # depthwise 3x3 s2, then pointwise
            convs.extend((Conv(c, c, 3, 2, h, h, groups=c), Conv(c, c, 1, 1, _half(h), _half(h))))
        else:
            convs.append(Conv(c, c, 3, 2, h, h))

    def csp(a: int, b: int, h: int) -> None:
        first = b // 2
        mid = b - first
        convs.extend((Conv(a, first, 1, 1, h, h), Conv(a, mid, 1, 1, h, h)))
        for _ in range(n):
            if variant.nano:  # one MobileV3 block, ratio 3
                e = nano_divisible(3 * mid)
                convs.extend((Conv(mid, e, 1, 1, h, h), Conv(e, e, 5, 1, h, h, groups=e),
                              Conv(e, mid, 1, 1, h, h)))  # fmt: skip
            else:
                hidden = int(mid * variant.hidden_ratio)
                convs.extend((Conv(mid, hidden, 3, 1, h, h), Conv(hidden, mid, 3, 1, h, h)))
        convs.append(Conv(first + n * mid, b, 1, 1, h, h))

    down(c4, h16), csp(c5 + c4, c5, h32), down(c3, h8), csp(c4 + c3 + c5, c4, h16)
    csp(c3 + c4, o3, h8), down(o3, h8), csp(c4 + o3, o4, h16)
    down(c4, h16), down(o4, h16), csp(c5 + c4 + o4, o5, h32)
    reg_max, k = (7, 1) if variant.nano else (16, 3)
    cells = 0
    for c, h in zip(variant.neck_out, (h8, h16, h32), strict=True):
        convs += [Conv(c, num_classes, k, 1, h, h), Conv(c, 4 * (reg_max + 1), k, 1, h, h)]
        cells += h * h
    integral = 2 * cells * 4 * (reg_max + 1)
    inputs = ((c3, h8, h8), (c4, h16, h16), (c5, h32, h32))
    return Part("neckhead", (neck, num_classes), inputs, tuple(convs), 3, integral)


def detector_parts(st: Structure, neck: str, num_classes: int, imgsz: int) -> tuple[Part, ...]:
    """Every part of the detector (backbone st, neck and head of the released model `neck`) at
    a square imgsz (a multiple of 32), in execution order."""
    head = neck_head_part(st.out_channels, neck, num_classes, imgsz)
    return (*backbone_parts(st, VARIANTS[neck].act, imgsz), head)


def detector_costs(st: Structure, neck: str, num_classes: int, imgsz: int) -> tuple[int, int]:
    """(params, FLOPs) of the deployed detector at imgsz, batch 1."""
    parts = detector_parts(st, neck, num_classes, imgsz)
    return sum(p.params for p in parts), sum(p.flops for p in parts)


class _NeckHead(nn.Module):
    """Neck, head and decode: the three backbone outputs -> (boxes, scores), as exported."""

    def __init__(self, variant: DamoVariant, c_in: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.neck, self.head = neck_and_head(variant, c_in, num_classes)

    def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor):
        scores, boxes = self.head.decode(self.head(self.neck([c3, c4, c5])))
        return boxes, scores


def build_part(part: Part) -> nn.Module:
    """The part's module, deployed (fused, eval) with random weights."""
    a = part.args
    if part.kind == "focus":
        module: nn.Module = Focus(3, a[0], 3, a[1])
    elif part.kind == "stem":
        module = ConvKXBNRELU(3, a[0], 3, 2, act="silu")
    elif part.kind == "res":
        module = ResConvBlock(*a)
    elif part.kind == "mob":
        module = MobileV3Block(a[0], a[1], 3.5 + 0.5 * a[2], a[3])
    elif part.kind == "spp":
        module = SPPBottleneck(a[0], a[0])
    elif part.kind == "cspconv":
        module = ConvKXBNRELU(*a)
    elif part.kind == "neckhead":
        module = _NeckHead(VARIANTS[a[0]], tuple(s[0] for s in part.inputs), a[1])
    else:
        raise ValueError(f"unknown part kind {part.kind}")
    fuse_model(nn.Sequential(module))  # a Sequential, so that the part's own fuse() runs too
    return module.eval()
