"""YOLOv5 v7.0 detection models (P5: n/s/m/l/x, P6: n6/s6/m6/l6/x6), written out layer by layer.

`self.model` holds the layers at the official indices (`model.<i>.*` keys), so official
state_dicts load directly. Upsample and Concat occupy their indices but have no weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...data.coco_classes import COCO80_NAMES
from ...hyp import Hyp, get_hyp
from ...nn.blocks import C3, SPPF, Concat, make_divisible
from ...nn.blocks import ConvBNAct as Conv
from ...structures import BatchTargets
from ..augment import augmented_forward
from ..base import Detector, EvalProtocol, HeadOutput, PostprocessDefaults
from ..transform import DetectTransform
from .head import Detect
from .loss import LossGains, YOLOv5Loss

ANCHORS_P5 = (
    (10, 13, 16, 30, 33, 23),
    (30, 61, 62, 45, 59, 119),
    (116, 90, 156, 198, 373, 326),
)
ANCHORS_P6 = (
    (19, 27, 44, 40, 38, 94),
    (96, 68, 86, 152, 180, 137),
    (140, 301, 303, 264, 238, 542),
    (436, 615, 739, 380, 925, 792),
)


@dataclass(frozen=True)
class YOLOv5Scale:
    """Depth and width multiples of one variant; p6 adds the stride-64 level."""

    depth: float
    width: float
    p6: bool = False


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2.0, mode="nearest")


def _stem_to_p4(c: Callable[[int], int], r: Callable[[int], int]) -> list[nn.Module]:
    """Layers 0-6, the same in P5 and P6 models."""
    return [
        Conv(3, c(64), 6, 2, 2),  # 0  P1/2
        Conv(c(64), c(128), 3, 2),  # 1  P2/4
        C3(c(128), c(128), r(3)),  # 2
        Conv(c(128), c(256), 3, 2),  # 3  P3/8
        C3(c(256), c(256), r(6)),  # 4
        Conv(c(256), c(512), 3, 2),  # 5  P4/16
        C3(c(512), c(512), r(9)),  # 6
    ]


def _p5_layers(c: Callable[[int], int], r: Callable[[int], int]) -> list[nn.Module]:
    return [
        *_stem_to_p4(c, r),
        Conv(c(512), c(1024), 3, 2),  # 7  P5/32
        C3(c(1024), c(1024), r(3)),  # 8
        SPPF(c(1024), c(1024), 5),  # 9
        Conv(c(1024), c(512), 1, 1),  # 10
        _up(),  # 11
        Concat(),  # 12 (10 up, 6)
        C3(2 * c(512), c(512), r(3), False),  # 13
        Conv(c(512), c(256), 1, 1),  # 14
        _up(),  # 15
        Concat(),  # 16 (14 up, 4)
        C3(2 * c(256), c(256), r(3), False),  # 17 P3 out
        Conv(c(256), c(256), 3, 2),  # 18
        Concat(),  # 19 (18, 14)
        C3(2 * c(256), c(512), r(3), False),  # 20 P4 out
        Conv(c(512), c(512), 3, 2),  # 21
        Concat(),  # 22 (21, 10)
        C3(2 * c(512), c(1024), r(3), False),  # 23 P5 out
    ]


def _p6_layers(c: Callable[[int], int], r: Callable[[int], int]) -> list[nn.Module]:
    return [
        *_stem_to_p4(c, r),
        Conv(c(512), c(768), 3, 2),  # 7  P5/32
        C3(c(768), c(768), r(3)),  # 8
        Conv(c(768), c(1024), 3, 2),  # 9  P6/64
        C3(c(1024), c(1024), r(3)),  # 10
        SPPF(c(1024), c(1024), 5),  # 11
        Conv(c(1024), c(768), 1, 1),  # 12
        _up(),  # 13
        Concat(),  # 14 (13, 8)
        C3(2 * c(768), c(768), r(3), False),  # 15
        Conv(c(768), c(512), 1, 1),  # 16
        _up(),  # 17
        Concat(),  # 18 (17, 6)
        C3(2 * c(512), c(512), r(3), False),  # 19
        Conv(c(512), c(256), 1, 1),  # 20
        _up(),  # 21
        Concat(),  # 22 (21, 4)
        C3(2 * c(256), c(256), r(3), False),  # 23 P3 out
        Conv(c(256), c(256), 3, 2),  # 24
        Concat(),  # 25 (24, 20)
        C3(2 * c(256), c(512), r(3), False),  # 26 P4 out
        Conv(c(512), c(512), 3, 2),  # 27
        Concat(),  # 28 (27, 16)
        C3(2 * c(512), c(768), r(3), False),  # 29 P5 out
        Conv(c(768), c(768), 3, 2),  # 30
        Concat(),  # 31 (30, 12)
        C3(2 * c(768), c(1024), r(3), False),  # 32 P6 out
    ]


class YOLOv5(Detector):
    """YOLOv5 detector: CSP-Darknet backbone with SPPF, PANet neck, anchor-based Detect head."""

    family = "yolov5"
    has_objectness = True
    # official v7.0 defaults: detect.py for predict, val.py for validation
    predict_defaults = PostprocessDefaults(conf=0.25, iou=0.45, max_det=1000)
    eval_protocol = EvalProtocol(conf=0.001, iou=0.6, max_det=300, multi_label=True, pad=0.5)

    def __init__(
        self,
        scale: YOLOv5Scale,
        num_classes: int = 80,
        names: dict[int, str] | Sequence[str] | None = None,
        anchors: Sequence[Sequence[float]] | None = None,
    ) -> None:
        def width(ch: int) -> int:
            return make_divisible(ch * scale.width, 8)

        def depth(n: int) -> int:
            return max(round(n * scale.depth), 1) if n > 1 else n

        if names is None and num_classes == len(COCO80_NAMES):
            names = COCO80_NAMES
        strides = (8, 16, 32, 64) if scale.p6 else (8, 16, 32)
        super().__init__(
            num_classes, strides, names, DetectTransform(), imgsz=1280 if scale.p6 else 640
        )
        self.scale = scale
        layers = (_p6_layers if scale.p6 else _p5_layers)(width, depth)
        head_ch = [width(c) for c in ((256, 512, 768, 1024) if scale.p6 else (256, 512, 1024))]
        anchors = anchors or (ANCHORS_P6 if scale.p6 else ANCHORS_P5)
        self.model = nn.ModuleList([*layers, self._make_head(anchors, head_ch, strides)])
        self.detect.initialize_biases()

    def _make_head(self, anchors, channels: list[int], strides: tuple[int, ...]) -> Detect:
        """The last layer (index 24, or 33 for P6): Detect here, Segment in the seg models."""
        return Detect(self.num_classes, anchors, channels, strides)

    @property
    def detect(self) -> Detect:
        return self.model[-1]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Neck outputs, strides 8/16/32 (and 64 for P6)."""
        return self._p6_features(x) if self.scale.p6 else self._p5_features(x)

    def _p5_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        x = m[3](m[2](m[1](m[0](x))))
        b4 = m[4](x)
        b6 = m[6](m[5](b4))
        h10 = m[10](m[9](m[8](m[7](b6))))
        h14 = m[14](m[13](m[12]([m[11](h10), b6])))
        p3 = m[17](m[16]([m[15](h14), b4]))
        p4 = m[20](m[19]([m[18](p3), h14]))
        p5 = m[23](m[22]([m[21](p4), h10]))
        return [p3, p4, p5]

    def _p6_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        x = m[3](m[2](m[1](m[0](x))))
        b4 = m[4](x)
        b6 = m[6](m[5](b4))
        b8 = m[8](m[7](b6))
        h12 = m[12](m[11](m[10](m[9](b8))))
        h16 = m[16](m[15](m[14]([m[13](h12), b8])))
        h20 = m[20](m[19](m[18]([m[17](h16), b6])))
        p3 = m[23](m[22]([m[21](h20), b4]))
        p4 = m[26](m[25]([m[24](p3), h20]))
        p5 = m[29](m[28]([m[27](p4), h16]))
        p6 = m[32](m[31]([m[30](p5), h12]))
        return [p3, p4, p5, p6]

    def configure_criterion(self, hyp: Hyp, imgsz: int) -> None:
        """Build the loss with hyp's gains, scaled for the number of levels, classes and imgsz."""
        gains = LossGains(hyp.box, hyp.obj, hyp.cls, hyp.anchor_t, hyp.label_smoothing,
                          hyp.fl_gamma, hyp.cls_pw, hyp.obj_pw)  # fmt: skip
        self._loss = YOLOv5Loss(
            self.detect.anchors,
            self.num_classes,
            gains.scaled(self.detect.nl, self.num_classes, imgsz),
        )

    def on_train_start(self, data, imgsz: int, hyp: Hyp) -> None:
        """AutoAnchor: evolve anchors that fit the labels when the current ones do not."""
        from .autoanchor import check_anchors

        check_anchors(self, data, imgsz, hyp.anchor_t)

    def criterion(self, output: HeadOutput, targets: BatchTargets) -> dict[str, torch.Tensor]:
        """Losses (total, box, obj, cls) of a training-mode output; total is times batch size."""
        if getattr(self, "_loss", None) is None:
            self.configure_criterion(get_hyp(self.family), self.imgsz)
        self._loss.anchors = self.detect.anchors  # follows .to(device) and autoanchor
        return self._loss(output.levels, targets.normalized_rows())

    def head_output(self, feats: list[torch.Tensor]) -> HeadOutput:
        levels = self.detect(feats)
        if self.training:
            return HeadOutput(levels)
        boxes, obj, cls = self.detect.decode(levels)
        return HeadOutput(levels, boxes=boxes, scores=cls, objectness=obj)

    def forward_augment(self, images: torch.Tensor) -> HeadOutput:
        """Test-time augmentation exactly as YOLOv5 v7.0 (scales 1, 0.83 mirrored, 0.67; grey
        0.447 padding; tails clipped), merged before NMS."""
        return augmented_forward(self, images, _level_rows, pad_value=0.447)


def _level_rows(levels: list[torch.Tensor]) -> list[int]:
    """Decoded rows per level: anchors x grid cells ([B, na, ny, nx, no] maps)."""
    return [lv.shape[1] * lv.shape[2] * lv.shape[3] for lv in levels]
