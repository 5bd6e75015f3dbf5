"""DAMO-YOLO detector: TinyNAS backbone -> Efficient RepGFPN neck -> ZeroHead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...data.coco_classes import COCO80_NAMES
from ...structures import BatchTargets
from ..augment import augmented_forward
from ..base import Detector, EvalProtocol, HeadOutput, PostprocessDefaults
from ..transform import DetectTransform
from .giraffe import GiraffeNeckV2
from .head import ZeroHead
from .loss import DamoLoss
from .structure import STRUCTURES, Structure
from .tinynas import build_backbone

BLOCK_TYPE = {"res": "k1kx", "csp": "kxkx", "mob": "mobile"}  # backbone kind -> structure type


@dataclass(frozen=True)
class DamoVariant:
    """Everything that differs between the seven released models."""

    structure: str  # key of STRUCTURES
    backbone: str  # "res" (T, S), "csp" (M, L), "mob" (Nano)
    act: str  # backbone and neck activation
    neck_out: tuple[int, int, int]
    depth: float
    hidden_ratio: float
    imgsz: int = 640

    @property
    def nano(self) -> bool:
        return self.backbone == "mob"

    @property
    def block_type(self) -> str:
        return BLOCK_TYPE[self.backbone]


def neck_and_head(
    variant: DamoVariant, c_in: tuple[int, int, int], num_classes: int
) -> tuple[GiraffeNeckV2, ZeroHead]:
    """The variant's RepGFPN neck on backbone outputs of widths c_in, and its ZeroHead."""
    neck = GiraffeNeckV2(c_in, variant.neck_out, variant.depth, variant.hidden_ratio, variant.act,
                         depthwise=variant.nano)  # fmt: skip
    reg_max, kernel = (7, 1) if variant.nano else (16, 3)
    return neck, ZeroHead(num_classes, variant.neck_out, (8, 16, 32), reg_max, kernel)


class DamoYolo(Detector):
    family = "damoyolo"
    predict_defaults = PostprocessDefaults(conf=0.25, iou=0.7, max_det=500)
    eval_protocol = EvalProtocol(conf=0.05, iou=0.7, max_det=500, multi_label=True, rect=False)

    def __init__(
        self,
        variant: DamoVariant,
        num_classes: int = 80,
        names: dict[int, str] | Sequence[str] | None = None,
        structure: Structure | None = None,
    ) -> None:
        """structure: a searched backbone instead of the variant's own (same block type); the
        neck, head, activation and training recipe stay the variant's."""
        if names is None and num_classes == len(COCO80_NAMES):
            names = COCO80_NAMES
        rule = DetectTransform(resize="stretch", rgb=True, divisor=1.0, rect=False)
        super().__init__(num_classes, (8, 16, 32), names, rule, imgsz=variant.imgsz)
        self.variant = variant
        structure = structure or STRUCTURES[variant.structure]
        if structure.type != variant.block_type:
            raise ValueError(
                f"a {structure.type} structure needs the neck of a {structure.type} model, not "
                f"of DAMO-YOLO-{variant.structure} ({variant.block_type})"
            )
        self.structure = structure
        self.build_kwargs: dict[str, Any] = {}  # how to rebuild a searched model (checkpoints)
        self.backbone: nn.Module = build_backbone(structure, variant.act)
        self.neck, self.head = neck_and_head(variant, structure.out_channels, num_classes)
        self.head.initialize()
        if variant.nano:
            self.eval_protocol = EvalProtocol(conf=0.03, iou=0.65, max_det=500, rect=False)
        presets = {"T": "damo-t", "Ns": "damo-ns", "Nm": "damo-nano", "Nl": "damo-nano"}
        self.default_hyp = presets.get(variant.structure, "damo-sml")

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        if self.build_kwargs:
            meta["build_kwargs"] = dict(self.build_kwargs)
        return meta

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Neck outputs at strides 8, 16, 32."""
        return self.neck(self.backbone(x))

    def configure_criterion(self, hyp: Any, imgsz: int) -> None:
        """AlignedOTA + QFL/GIoU/DFL with the official weights (1.0, 2.0, 0.25)."""
        self._loss = DamoLoss(self.num_classes, self.head.reg_max)

    def flatten_levels(self, levels: list[torch.Tensor]):
        """(class logits [B, A, C], box logits [B, A, 4, R+1], priors [A, 3] = x, y, stride)."""
        nc, r1 = self.num_classes, self.head.reg_max + 1
        cls, reg, priors = [], [], []
        for level, stride in zip(levels, self.head.strides, strict=True):
            n, _, h, w = level.shape
            cls.append(level[:, :nc].flatten(2).transpose(1, 2))
            reg.append(
                level[:, nc:]
                .reshape(n, 4, r1, h, w)
                .permute(0, 3, 4, 1, 2)
                .reshape(n, h * w, 4, r1)
            )
            points = self.head.priors(h, w, stride, level)
            priors.append(torch.cat((points, torch.full_like(points[:, :1], float(stride))), 1))
        return torch.cat(cls, 1), torch.cat(reg, 1), torch.cat(priors, 0)

    def criterion(self, output: HeadOutput, targets: BatchTargets) -> dict[str, torch.Tensor]:
        """Losses (total, qfl, giou, dfl) of a training-mode output."""
        if getattr(self, "_loss", None) is None:
            self.configure_criterion(None, self.imgsz)
        cls, reg, priors = self.flatten_levels(output.levels)
        return self._loss(cls, reg, priors, targets.per_image(cls.shape[0]))

    def head_output(self, feats: list[torch.Tensor]) -> HeadOutput:
        levels = self.head(feats)
        if self.training:
            return HeadOutput(levels)
        scores, boxes = self.head.decode(levels)
        return HeadOutput(levels, boxes=boxes, scores=scores)

    def forward_augment(self, images: torch.Tensor) -> HeadOutput:
        """Test-time augmentation, YOLOv5's scheme on the stretched input (scales 1, 0.83
        mirrored, 0.67; the smaller passes padded right/bottom with grey 114, DAMO-YOLO's inputs
        being raw 0..255 pixels), merged before NMS."""
        grey = self.transform.pad_value / self.transform.divisor
        return augmented_forward(self, images, _level_rows, pad_value=grey)

    def reparameterize(self) -> DamoYolo:
        """Switch every RepConv to its single 3x3 conv (BatchNorms elsewhere stay)."""
        from .blocks import RepConv

        for module in list(self.modules()):
            if isinstance(module, RepConv):
                module.fuse()
        return self


def _level_rows(levels: list[torch.Tensor]) -> list[int]:
    """Decoded rows per level: one per grid cell ([B, C, h, w] maps)."""
    return [lv.shape[2] * lv.shape[3] for lv in levels]
