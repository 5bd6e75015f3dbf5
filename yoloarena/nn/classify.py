"""The classification head YOLOv5's `-cls` models end with, shared by every backbone that carries
it: a 1x1 Conv+BN+SiLU to 1280 channels, global average pooling, dropout, and a linear layer.

Keys `conv.{conv,bn}.*` and `linear.{weight,bias}` (the official `model.9.*` of yolov5*-cls). The
head's BatchNorm keeps PyTorch's defaults (eps 1e-5, momentum 0.1): upstream creates it after the
detection model's `initialize_weights` has set every other BatchNorm to eps 1e-3.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNAct

HIDDEN = 1280


class ClassifyHead(nn.Module):
    """[B, c1, H, W] feature map -> [B, num_classes] logits."""

    def __init__(self, c1: int, num_classes: int, hidden: int = HIDDEN, dropout: float = 0.0):
        super().__init__()
        self.conv = ConvBNAct(c1, hidden, 1, 1, bn_eps=1e-5, bn_momentum=0.1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=dropout, inplace=True)
        self.linear = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))

    def reset_classes(self, num_classes: int) -> None:
        """A new linear layer for another class count (the rest of the head is kept)."""
        if self.linear.out_features != num_classes:
            old = self.linear
            self.linear = nn.Linear(old.in_features, num_classes).to(old.weight.device)
