"""YOLOv5 Detect head: one 1x1 conv per level, anchor-based decoding."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


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
        self._grids: dict[tuple, torch.Tensor] = {}

    @torch.no_grad()
    def initialize_biases(self, objects_per_image: float = 8.0, imgsz: int = 640) -> None:
        """Prior biases: ~8 objects per 640 image for objectness, 0.6/nc for each class."""
        for conv, s in zip(self.m, self.strides, strict=True):
            b = conv.bias.view(self.na, -1)
            b[:, 4] += math.log(objects_per_image / (imgsz / s) ** 2)
            b[:, 5 : 5 + self.nc] += math.log(0.6 / (self.nc - 0.99999))

    def _grid(self, ny: int, nx: int, like: torch.Tensor) -> torch.Tensor:
        """Cell offsets minus 0.5, [1, 1, ny, nx, 2] (x, y); cached per size/device/dtype."""
        key = (ny, nx, like.device, like.dtype)
        grid = self._grids.get(key)
        if grid is None or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            yv, xv = torch.meshgrid(
                torch.arange(ny, device=like.device, dtype=like.dtype),
                torch.arange(nx, device=like.device, dtype=like.dtype),
                indexing="ij",
            )
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2) - 0.5
            if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
                self._grids[key] = grid
        return grid

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

        Rows are level by level, each ordered (anchor, y, x).
        """
        boxes, obj, cls = [], [], []
        for i, raw in enumerate(levels):
            bs, _, ny, nx, _ = raw.shape
            grid = self._grid(ny, nx, raw)
            anchor_grid = (
                (self.anchors[i] * self.strides[i]).to(raw.dtype).view(1, self.na, 1, 1, 2)
            )
            y = raw.sigmoid()
            xy = (y[..., 0:2] * 2 + grid) * self.strides[i]
            twice = y[..., 2:4] * 2
            wh = twice * twice * anchor_grid  # = (2y)^2 exactly; a product, not pow (TFLite)
            half = wh / 2
            boxes.append(torch.cat((xy - half, xy + half), -1).view(bs, -1, 4))
            obj.append(y[..., 4].reshape(bs, -1))
            cls.append(y[..., 5 : 5 + self.nc].reshape(bs, -1, self.nc))
        return torch.cat(boxes, 1), torch.cat(obj, 1), torch.cat(cls, 1)
