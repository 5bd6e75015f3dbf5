"""YOLOv5 v7.0 training loss: anchor matching with neighbour cells, CIoU box loss, objectness with
IoU targets, class BCE with label smoothing, per-level balance.

Targets enter as rows (image, class, cx, cy, w, h) normalised to the input size. The semantics
follow the official code exactly (strict comparisons, in-place cell clamp, entry order, last write
wins on cell collisions) because the loss fixtures check them bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# offsets of the centre cell and the four neighbours, in grid units (times 0.5)
_OFFSETS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]) * 0.5


@dataclass
class LossGains:
    """Loss weights after the train-time scaling (see `scaled`)."""

    box: float = 0.05
    obj: float = 1.0
    cls: float = 0.5
    anchor_t: float = 4.0
    label_smoothing: float = 0.0
    fl_gamma: float = 0.0
    cls_pw: float = 1.0
    obj_pw: float = 1.0

    def scaled(self, nl: int, nc: int, imgsz: int) -> LossGains:
        """The official rescaling by the number of levels, classes and the image size."""
        k = 3 / nl
        return LossGains(
            self.box * k, self.obj * (imgsz / 640) ** 2 * k, self.cls * nc / 80 * k,
            self.anchor_t, self.label_smoothing, self.fl_gamma, self.cls_pw, self.obj_pw,
        )  # fmt: skip


def ciou_cxcywh(b1: torch.Tensor, b2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Element-wise complete IoU of [N, 4] cx, cy, w, h boxes (the aspect weight has no grad)."""
    (x1, y1, w1, h1), (x2, y2, w2, h2) = b1.unbind(-1), b2.unbind(-1)
    b1x1, b1x2, b1y1, b1y2 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
    b2x1, b2x2, b2y1, b2y2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    inter = (torch.min(b1x2, b2x2) - torch.max(b1x1, b2x1)).clamp(0) * (
        torch.min(b1y2, b2y2) - torch.max(b1y1, b2y1)
    ).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1x2, b2x2) - torch.min(b1x1, b2x1)
    ch = torch.max(b1y2, b2y2) - torch.min(b1y1, b2y1)
    c2 = cw**2 + ch**2 + eps
    rho2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class YOLOv5Loss:
    """Callable (levels, targets [M, 6]) -> dict(total, box, obj, cls).

    total = (box + obj + cls) * batch size, as the official loss returns it.
    """

    def __init__(
        self,
        anchors: torch.Tensor,
        num_classes: int,
        gains: LossGains,
        balance: Sequence[float] | None = None,
        autobalance: bool = False,
    ) -> None:
        self.anchors = anchors  # [nl, na, 2] grid units (the Detect buffer)
        self.nc, self.nl, self.na = num_classes, anchors.shape[0], anchors.shape[1]
        self.gains = gains
        default = [4.0, 1.0, 0.4] if self.nl == 3 else [4.0, 1.0, 0.25, 0.06, 0.02]
        self.balance = list(balance or default[: self.nl])
        self.autobalance = autobalance
        self.cp = 1.0 - 0.5 * gains.label_smoothing
        self.cn = 0.5 * gains.label_smoothing

    def build_targets(self, levels: Sequence[torch.Tensor], targets: torch.Tensor):
        """Per level: (b, a, gj, gi) indices, class, box target (xy offset, wh), anchor wh."""
        out = []
        for i, (t, gij) in enumerate(self.assign(levels, targets)):
            b, cls, a = t[:, 0].long(), t[:, 1].long(), t[:, 6].long()
            gxy, gwh = t[:, 2:4], t[:, 4:6]
            anchors = self.anchors[i].to(targets.dtype)
            out.append(
                ((b, a, gij[:, 1], gij[:, 0]), cls, torch.cat((gxy - gij, gwh), 1), anchors[a])
            )
        return out

    def assign(self, levels: Sequence[torch.Tensor], targets: torch.Tensor):
        """Per level (rows, cells): the matched rows [K, 7 + e] (image, class, grid cx, cy, w,
        h, anchor, then the e extra columns targets carry after its first 6) and their cells
        [K, 2] (x, y), clamped to the grid."""
        na, nt = self.na, targets.shape[0]
        device = targets.device
        anchor_idx = torch.arange(na, device=device, dtype=targets.dtype).view(na, 1).repeat(1, nt)
        base, extra = targets[:, :6].repeat(na, 1, 1), targets[:, 6:].repeat(na, 1, 1)
        rows = torch.cat((base, anchor_idx[..., None], extra), 2)  # [na, nt, 7 + e]
        offsets_all = _OFFSETS.to(device, targets.dtype)
        out = []
        for i, level in enumerate(levels):
            anchors = self.anchors[i].to(targets.dtype)
            ny, nx = level.shape[2], level.shape[3]
            scale = torch.ones(rows.shape[-1], device=device, dtype=targets.dtype)
            scale[2:6] = torch.tensor([nx, ny, nx, ny], device=device, dtype=targets.dtype)
            t = rows * scale
            if nt:
                ratio = t[..., 4:6] / anchors[:, None]
                t = t[torch.max(ratio, 1 / ratio).max(2)[0] < self.gains.anchor_t]
                gxy = t[:, 2:4]
                gxi = scale[[2, 3]] - gxy
                left, up = ((gxy % 1 < 0.5) & (gxy > 1)).T
                right, down = ((gxi % 1 < 0.5) & (gxi > 1)).T
                mask = torch.stack((torch.ones_like(left), left, up, right, down))
                t = t.repeat((5, 1, 1))[mask]
                offsets = (torch.zeros_like(gxy)[None] + offsets_all[:, None])[mask]
            else:
                t, offsets = rows[0], torch.zeros(0, 2, device=device, dtype=targets.dtype)
            gij = (t[:, 2:4] - offsets).long()
            gij[:, 0].clamp_(0, nx - 1)  # in place: the box target uses the clamped cell
            gij[:, 1].clamp_(0, ny - 1)
            out.append((t, gij))
        return out

    def __call__(
        self, levels: Sequence[torch.Tensor], targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        device = levels[0].device
        lbox = torch.zeros(1, device=device)
        lobj = torch.zeros(1, device=device)
        lcls = torch.zeros(1, device=device)
        matched = self.build_targets(levels, targets)
        for i, (level, ((b, a, gj, gi), tcls, tbox, anchors)) in enumerate(
            zip(levels, matched, strict=True)
        ):
            tobj = torch.zeros(level.shape[:4], dtype=level.dtype, device=device)
            if b.shape[0]:
                pxy, pwh, _, pcls = level[b, a, gj, gi].split((2, 2, 1, self.nc), 1)
                pbox = torch.cat((pxy.sigmoid() * 2 - 0.5, (pwh.sigmoid() * 2) ** 2 * anchors), 1)
                iou = ciou_cxcywh(pbox, tbox)
                lbox += (1.0 - iou).mean()
                tobj[b, a, gj, gi] = iou.detach().clamp(0).to(tobj.dtype)
                if self.nc > 1:
                    t = torch.full_like(pcls, self.cn)
                    t[torch.arange(b.shape[0], device=device), tcls] = self.cp
                    lcls += self._bce(pcls, t, self.gains.cls_pw)
            obji = self._bce(level[..., 4], tobj, self.gains.obj_pw)
            lobj += obji * self.balance[i]
            if self.autobalance:
                self.balance[i] = self.balance[i] * 0.9999 + 0.0001 / obji.detach().item()
        if self.autobalance:
            ssi = 1 if self.nl > 1 else 0
            self.balance = [x / self.balance[ssi] for x in self.balance]
        g = self.gains
        lbox, lobj, lcls = lbox * g.box, lobj * g.obj, lcls * g.cls
        bs = levels[0].shape[0]
        return {"total": ((lbox + lobj + lcls) * bs)[0], "box": lbox[0].detach(),
                "obj": lobj[0].detach(), "cls": lcls[0].detach()}  # fmt: skip

    def _bce(self, logits: torch.Tensor, target: torch.Tensor, pos_weight: float) -> torch.Tensor:
        pw = None if pos_weight == 1.0 else torch.tensor([pos_weight], device=logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
        if self.gains.fl_gamma > 0:  # focal loss (alpha 0.25)
            p = logits.sigmoid()
            p_t = target * p + (1 - target) * (1 - p)
            alpha = target * 0.25 + (1 - target) * 0.75
            loss = loss * alpha * (1.0 - p_t) ** self.gains.fl_gamma
        return loss.mean()
