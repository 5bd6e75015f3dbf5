"""YOLOv5 Detect head: one 1x1 conv per level, anchor-based decoding."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _is_fake(t: torch.Tensor) -> bool:
    """A tensor without storage (torch.export's fake tensors): nothing to cache by address."""
    try:
        t.data_ptr()
    except RuntimeError:
        return True
    return False


class Detect(nn.Module):
    """Per level a 1x1 conv to na*(nc+5) channels; keys `m.<i>.*` and the `anchors` buffer.

    `anchors` is [nl, na, 2] in grid units (pixels / stride), as in the official checkpoints;
    checkpoints may carry anchors changed by autoanchor, so always load them from the file.
    """

    def __init__(
        self,
        num_classes: int,
        anchors_px: Sequence[Sequence[float]],
        channels: Sequence[int],
        strides: Sequence[int],
        num_extra: int = 0,
    ) -> None:
        super().__init__()
        self.nc = num_classes
        self.no = num_classes + 5 + num_extra  # extra raw outputs per anchor (mask coefficients)
        self.nl = len(channels)
        self.na = len(anchors_px[0]) // 2
        self.strides = tuple(int(s) for s in strides)
        px = torch.tensor(anchors_px, dtype=torch.float32).view(self.nl, self.na, 2)
        stride_t = torch.tensor(self.strides, dtype=torch.float32).view(-1, 1, 1)
        self.register_buffer("anchors", px / stride_t)
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in channels)
        self._grids: dict[tuple, tuple[torch.Tensor, ...]] = {}

    @torch.no_grad()
    def initialize_biases(self, objects_per_image: float = 8.0, imgsz: int = 640) -> None:
        """Prior biases: ~8 objects per 640 image for objectness, 0.6/nc for each class."""
        for conv, s in zip(self.m, self.strides, strict=True):
            b = conv.bias.view(self.na, -1)
            b[:, 4] += math.log(objects_per_image / (imgsz / s) ** 2)
            b[:, 5 : 5 + self.nc] += math.log(0.6 / (self.nc - 0.99999))

    def _tables(self, levels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Per decoded row, all levels: (cell offset - 0.5 [N, 2] as x, y; anchor size in
        pixels [N, 2]; stride [N, 1]), rows level by level, each ordered (anchor, y, x).

        Cached per level sizes, device, dtype and anchors (whose in-place changes bump their
        version); built afresh while tracing, so an export keeps its sizes dynamic."""
        like = levels[0]
        sizes = tuple(tuple(lv.shape[2:4]) for lv in levels)
        anchors = self.anchors
        tracing = (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                   or torch.compiler.is_compiling() or _is_fake(anchors))  # fmt: skip
        key = None if tracing else (sizes, like.device, like.dtype, anchors.data_ptr(),
                                    anchors._version)  # fmt: skip
        if not tracing and key in self._grids:
            return self._grids[key]
        grids, sizes_px, strides = [], [], []
        for i, lv in enumerate(levels):
            ny, nx = lv.shape[2], lv.shape[3]
            yv, xv = torch.meshgrid(
                torch.arange(ny, device=like.device, dtype=like.dtype),
                torch.arange(nx, device=like.device, dtype=like.dtype),
                indexing="ij",
            )
            cell = (torch.stack((xv, yv), 2).view(1, ny, nx, 2) - 0.5).expand(self.na, -1, -1, -1)
            grids.append(cell.reshape(-1, 2))
            px = (anchors[i] * self.strides[i]).to(like.dtype).view(self.na, 1, 1, 2)
            sizes_px.append(px.expand(-1, ny, nx, -1).reshape(-1, 2))
            strides.append(torch.full_like(grids[-1][:, :1], self.strides[i]))
        tables = (torch.cat(grids), torch.cat(sizes_px), torch.cat(strides))
        if not tracing:
            self._grids = {key: tables}  # one entry: the sizes in use
        return tables

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Raw maps [B, na, ny, nx, no] per level (pre-sigmoid); no = nc + 5 (+ extra)."""
        out = []
        for conv, x in zip(self.m, feats, strict=True):
            y = conv(x)
            bs, _, ny, nx = y.shape
            out.append(y.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        return out

    def decode(self, levels: Sequence[torch.Tensor]):
        """(boxes xyxy [B, N, 4] in input pixels, objectness [B, N], class probs [B, N, nc]).

        Rows are level by level, each ordered (anchor, y, x). All levels are decoded at once:
        one sigmoid and one set of element-wise ops on the concatenated rows.
        """
        bs = levels[0].shape[0]
        raw = torch.cat([lv.reshape(bs, -1, self.no) for lv in levels], 1)
        grid, anchor_px, stride = self._tables(levels)
        y = raw.sigmoid()
        xy = (y[..., 0:2] * 2 + grid) * stride
        twice = y[..., 2:4] * 2
        wh = twice * twice * anchor_px  # = (2y)^2 exactly; a product, not pow (TFLite)
        half = wh / 2
        return torch.cat((xy - half, xy + half), -1), y[..., 4], y[..., 5 : 5 + self.nc]
