"""YOLOv5 v7.0 instance segmentation (`yolov5{n,s,m,l,x}-seg`): the detection network whose last
layer also predicts 32 mask coefficients per anchor, plus a Proto branch on the stride-8 neck
output that makes 32 prototype masks at stride 4. A box's mask is sigmoid(coefficients @
prototypes), cropped to the box (ops.masks).

Keys follow the official checkpoints: `model.24.{anchors, m.<i>.*, proto.cv{1,2,3}.*}`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import YoloArenaError
from ...hyp import Hyp, get_hyp
from ...nn.blocks import ConvBNAct as Conv
from ...nn.blocks import make_divisible
from ...structures import BatchTargets
from ..base import HeadOutput
from ..segmenter import SegDetections
from .head import Detect
from .loss import LossGains
from .model import YOLOv5, YOLOv5Scale
from .seg_loss import YOLOv5SegLoss

__all__ = ["NUM_MASKS", "Proto", "SegDetections", "Segment", "YOLOv5Seg"]

NUM_MASKS = 32


class Proto(nn.Module):
    """Prototype masks: 3x3 conv, nearest 2x upsample, 3x3 conv, 1x1 conv to num_masks."""

    def __init__(self, c1: int, hidden: int = 256, num_masks: int = NUM_MASKS) -> None:
        super().__init__()
        self.cv1 = Conv(c1, hidden, 3)
        self.upsample = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.cv2 = Conv(hidden, hidden, 3)
        self.cv3 = Conv(hidden, num_masks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Segment(Detect):
    """Detect whose per-anchor outputs end with num_masks raw coefficients, plus Proto (on the
    finest level)."""

    def __init__(
        self,
        num_classes: int,
        anchors_px: Sequence[Sequence[float]],
        channels: Sequence[int],
        strides: Sequence[int],
        num_masks: int = NUM_MASKS,
        num_protos: int = 256,
    ) -> None:
        super().__init__(num_classes, anchors_px, channels, strides, num_extra=num_masks)
        self.nm = num_masks
        self.proto = Proto(channels[0], num_protos, num_masks)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:  # type: ignore[override]
        """(raw maps [B, na, ny, nx, nc + 5 + nm] per level, prototypes [B, nm, 2ny0, 2nx0])."""
        return super().forward(feats), self.proto(feats[0])

    def mask_coefficients(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """[B, N, nm] raw coefficients, rows in the order of decode()."""
        bs = levels[0].shape[0]
        return torch.cat([raw[..., 5 + self.nc :].reshape(bs, -1, self.nm) for raw in levels], 1)


class YOLOv5Seg(YOLOv5):
    """YOLOv5 instance segmentation model (v7.0 SegmentationModel). Post-processing with masks
    is the Detector's (postprocess_segments, predict: see models/segmenter.py)."""

    task = "segment"

    def __init__(
        self,
        scale: YOLOv5Scale,
        num_classes: int = 80,
        names: dict[int, str] | Sequence[str] | None = None,
        anchors: Sequence[Sequence[float]] | None = None,
        num_masks: int = NUM_MASKS,
    ) -> None:
        self._num_masks = num_masks
        self._num_protos = make_divisible(256 * scale.width, 8)
        super().__init__(scale, num_classes, names, anchors)

    def _make_head(self, anchors, channels: list[int], strides: tuple[int, ...]) -> Segment:
        return Segment(self.num_classes, anchors, channels, strides,
                       self._num_masks, self._num_protos)  # fmt: skip

    @property
    def num_masks(self) -> int:
        return self.detect.nm

    def head_output(self, feats: list[torch.Tensor]) -> HeadOutput:
        levels, protos = self.detect(feats)
        if self.training:
            return HeadOutput(levels, prototypes=protos)
        boxes, obj, cls = self.detect.decode(levels)
        coef = self.detect.mask_coefficients(levels)
        return HeadOutput(levels, boxes, cls, obj, mask_coefficients=coef, prototypes=protos)

    def forward_augment(self, images: torch.Tensor) -> HeadOutput:
        raise YoloArenaError(
            "test-time augmentation (augment=True) is not available for segmentation models: "
            "the prototypes of differently scaled passes do not merge"
        )

    def configure_criterion(self, hyp: Hyp, imgsz: int) -> None:
        """The segmentation loss with hyp's gains (scaled as for detection)."""
        gains = LossGains(hyp.box, hyp.obj, hyp.cls, hyp.anchor_t, hyp.label_smoothing,
                          hyp.fl_gamma, hyp.cls_pw, hyp.obj_pw)  # fmt: skip
        self._loss = YOLOv5SegLoss(
            self.detect.anchors,
            self.num_classes,
            gains.scaled(self.detect.nl, self.num_classes, imgsz),
            num_masks=self.num_masks,
        )

    def criterion(self, output: HeadOutput, targets: BatchTargets) -> dict[str, torch.Tensor]:
        """Losses (total, box, seg, obj, cls); targets must carry masks (BatchTargets.masks)."""
        if getattr(self, "_loss", None) is None:
            self.configure_criterion(get_hyp(self.family), self.imgsz)
        if targets.masks is None:
            raise ValueError("a segmentation model needs BatchTargets with masks to train")
        self._loss.anchors = self.detect.anchors
        return self._loss(
            output.levels, output.prototypes, targets.normalized_rows(), targets.masks,
            overlap=targets.overlap,
        )  # fmt: skip
