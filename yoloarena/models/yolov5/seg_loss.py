"""YOLOv5 v7.0 segmentation loss: the detection loss (box, objectness, class) plus a mask term.

For every positive (image, anchor, cell) the predicted mask logits are its coefficients times the
image's prototypes; the loss is the per-pixel BCE against the ground-truth mask at prototype
resolution, kept inside the ground-truth box only, averaged over the whole map and divided by
the box's normalised area; per image and level the mean over its positives. The sum over levels
and images is scaled by box gain / batch size. Semantics follow the official code exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...ops.masks import crop_masks
from .loss import LossGains, YOLOv5Loss, ciou_cxcywh


class YOLOv5SegLoss(YOLOv5Loss):
    """Callable (levels, prototypes, targets [M, 6], masks, overlap) -> dict(total, box, seg,
    obj, cls); total = (box + seg + obj + cls) * batch size.

    masks: overlap=True, [B, h, w] maps whose value k marks the k-th row of that image (in
    target row order, 1-based); overlap=False, [M, h, w] 0/1 masks, one per target row.
    """

    def __init__(
        self,
        anchors: torch.Tensor,
        num_classes: int,
        gains: LossGains,
        num_masks: int = 32,
        balance: Sequence[float] | None = None,
        autobalance: bool = False,
    ) -> None:
        super().__init__(anchors, num_classes, gains, balance, autobalance)
        self.nm = num_masks

    def seg_targets(self, levels: Sequence[torch.Tensor], targets: torch.Tensor, overlap: bool):
        """build_targets plus, per level, each entry's mask index and normalised cxcywh box."""
        if overlap:  # 1-based position of each row within its own image
            order = torch.zeros(targets.shape[0], dtype=targets.dtype, device=targets.device)
            for b in targets[:, 0].unique():
                j = targets[:, 0] == b
                order[j] = torch.arange(1, int(j.sum()) + 1, device=targets.device).to(order)
        else:  # global row index
            order = torch.arange(targets.shape[0], device=targets.device).to(targets.dtype)
        matched = []
        for i, (t, gij) in enumerate(self.assign(levels, torch.cat((targets, order[:, None]), 1))):
            ny, nx = levels[i].shape[2], levels[i].shape[3]
            b, cls, a = t[:, 0].long(), t[:, 1].long(), t[:, 6].long()
            gxy, gwh = t[:, 2:4], t[:, 4:6]
            size = torch.tensor([nx, ny, nx, ny], device=t.device, dtype=t.dtype)
            matched.append({
                "b": b, "a": a, "gj": gij[:, 1], "gi": gij[:, 0], "tcls": cls,
                "tbox": torch.cat((gxy - gij, gwh), 1),
                "anchors": self.anchors[i].to(t.dtype)[a],
                "tidx": t[:, 7].long(), "xywhn": torch.cat((gxy, gwh), 1) / size,
            })  # fmt: skip
        return matched

    def __call__(  # type: ignore[override]
        self,
        levels: Sequence[torch.Tensor],
        prototypes: torch.Tensor,
        targets: torch.Tensor,
        masks: torch.Tensor,
        overlap: bool = True,
    ) -> dict[str, torch.Tensor]:
        device = levels[0].device
        bs, nm, mh, mw = prototypes.shape
        lbox, lobj, lcls, lseg = (torch.zeros(1, device=device) for _ in range(4))
        if tuple(masks.shape[-2:]) != (mh, mw):
            masks = F.interpolate(masks[None].float(), (mh, mw), mode="nearest")[0]
        masks = masks.to(prototypes.dtype)
        for i, (level, m) in enumerate(
            zip(levels, self.seg_targets(levels, targets, overlap), strict=True)
        ):
            b, a, gj, gi = m["b"], m["a"], m["gj"], m["gi"]
            tobj = torch.zeros(level.shape[:4], dtype=level.dtype, device=device)
            if b.shape[0]:
                pxy, pwh, _, pcls, pmask = level[b, a, gj, gi].split((2, 2, 1, self.nc, nm), 1)
                pwh = (pwh.sigmoid() * 2) ** 2 * m["anchors"]
                pbox = torch.cat((pxy.sigmoid() * 2 - 0.5, pwh), 1)
                iou = ciou_cxcywh(pbox, m["tbox"])
                lbox += (1.0 - iou).mean()
                tobj[b, a, gj, gi] = iou.detach().clamp(0).to(tobj.dtype)
                if self.nc > 1:
                    t = torch.full_like(pcls, self.cn)
                    t[torch.arange(b.shape[0], device=device), m["tcls"]] = self.cp
                    lcls += self._bce(pcls, t, self.gains.cls_pw)
                for term in self._mask_terms(m, pmask, prototypes, masks, overlap):
                    lseg += term
            obji = self._bce(level[..., 4], tobj, self.gains.obj_pw)
            lobj += obji * self.balance[i]
            if self.autobalance:
                self.balance[i] = self.balance[i] * 0.9999 + 0.0001 / obji.detach().item()
        if self.autobalance:
            ssi = 1 if self.nl > 1 else 0
            self.balance = [x / self.balance[ssi] for x in self.balance]
        g = self.gains
        lbox, lobj, lcls, lseg = lbox * g.box, lobj * g.obj, lcls * g.cls, lseg * (g.box / bs)
        return {"total": ((lbox + lobj + lcls + lseg) * bs)[0], "box": lbox[0].detach(),
                "seg": lseg[0].detach(), "obj": lobj[0].detach(),
                "cls": lcls[0].detach()}  # fmt: skip

    @staticmethod
    def _mask_terms(m: dict, pmask, prototypes, masks, overlap: bool):
        """Per image with entries: the mean over its entries of the cropped BCE / box area."""
        _, nm, mh, mw = prototypes.shape
        xywhn = m["xywhn"]
        area = xywhn[:, 2:].prod(1)
        scaled = xywhn * torch.tensor([mw, mh, mw, mh], device=xywhn.device, dtype=xywhn.dtype)
        half = scaled[:, 2:] / 2
        xyxy = torch.cat((scaled[:, :2] - half, scaled[:, :2] + half), 1)
        b, tidx = m["b"], m["tidx"]
        for bi in b.unique():
            j = b == bi
            if overlap:
                gt = (masks[bi][None] == tidx[j].view(-1, 1, 1)).to(prototypes.dtype)
            else:
                gt = masks[tidx[j]]
            logits = (pmask[j] @ prototypes[bi].view(nm, -1)).view(-1, mh, mw)
            loss = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
            yield (crop_masks(loss, xyxy[j]).mean(dim=(1, 2)) / area[j]).mean()
