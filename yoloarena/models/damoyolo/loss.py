"""DAMO-YOLO training loss: AlignedOTA assignment, then QualityFocal, GIoU and Distribution
Focal losses (weights 1.0, 2.0, 0.25), following the official semantics exactly.

Inputs per batch: class logits [B, A, C], scaled box logits [B, A, 4, R+1], priors [A, 3]
(x, y, stride), and per image (boxes xyxy [M, 4] in input pixels, labels [M]).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

INF_COST = 1e8


@dataclass
class Assignment:
    """Positives of one image, in ascending prior order."""

    pos: torch.Tensor  # [P] prior indices
    labels: torch.Tensor  # [P]
    scores: torch.Tensor  # [P] IoU of the predicted box with its gt (the quality target)
    boxes: torch.Tensor  # [P, 4] gt xyxy


def pairwise_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """IoU [N, M]; sides clamped at 0, union raised to at least eps, areas not clamped."""
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = (area_a[:, None] + area_b[None] - inter).clamp(min=eps)
    return inter / union


def aligned_giou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Element-wise GIoU of [N, 4] xyxy boxes (union and enclosing area raised to eps)."""
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = (area_a + area_b - inter).clamp(min=eps)
    ious = inter / union
    enc = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0)
    enclose = (enc[:, 0] * enc[:, 1]).clamp(min=eps)
    return ious - (enclose - union) / enclose


@torch.no_grad()
def align_ota(
    scores: torch.Tensor, boxes: torch.Tensor, priors: torch.Tensor, gt_boxes: torch.Tensor,
    gt_labels: torch.Tensor, radius: float = 2.5, topq: int = 10,
) -> Assignment:  # fmt: skip
    """AlignedOTA for one image: candidates by box and centre region, cost = focal-style class
    cost + 3 (-ln IoU), dynamic k from the top IoUs, conflicts to the cheapest gt."""
    device = scores.device
    empty = Assignment(torch.zeros(0, dtype=torch.long, device=device),
                       torch.zeros(0, dtype=torch.long, device=device),
                       torch.zeros(0, device=device), torch.zeros(0, 4, device=device))  # fmt: skip
    if gt_boxes.shape[0] == 0:
        return empty
    x, y, stride = priors[:, 0:1], priors[:, 1:2], priors[:, 2:3]
    in_box = torch.stack((x - gt_boxes[:, 0], y - gt_boxes[:, 1], gt_boxes[:, 2] - x,
                          gt_boxes[:, 3] - y), -1).min(-1).values > 0  # fmt: skip
    cx, cy = (gt_boxes[:, 0] + gt_boxes[:, 2]) / 2, (gt_boxes[:, 1] + gt_boxes[:, 3]) / 2
    r = radius * stride
    in_centre = (
        torch.stack((x - (cx - r), y - (cy - r), (cx + r) - x, (cy + r) - y), -1).min(-1).values > 0
    )
    valid = in_box.any(1) | in_centre.any(1)
    cand = valid.nonzero().squeeze(1)
    if cand.numel() == 0:
        return empty
    iou = pairwise_iou(boxes[cand], gt_boxes)
    cost = _class_cost(scores[cand], gt_labels, iou) + 3.0 * -torch.log(iou + 1e-7)
    cost = cost + INF_COST * ~(in_box[cand] & in_centre[cand])
    matching = _dynamic_k(cost, iou, topq)
    fg = matching.sum(1) > 0
    gt_of = matching[fg].argmax(1)
    return Assignment(cand[fg], gt_labels[gt_of], (matching * iou).sum(1)[fg], gt_boxes[gt_of])


def _class_cost(p: torch.Tensor, labels: torch.Tensor, iou: torch.Tensor) -> torch.Tensor:
    """sum_c BCE(p_c, t_c) |t_c - p_c|^2 with t = one_hot(label) * IoU, for [V] x [M] pairs.

    Only the label class has a non-zero target, so the sum is the all-negative sum of the prior,
    minus its label-class negative term, plus the label-class term against the IoU.
    """
    negatives = F.binary_cross_entropy(p, torch.zeros_like(p), reduction="none") * p.pow(2)
    p_lab = p[:, labels]  # [V, M]
    neg_lab = negatives[:, labels]
    pos_lab = F.binary_cross_entropy(p_lab, iou, reduction="none") * (iou - p_lab).abs().pow(2)
    return negatives.sum(1, keepdim=True) - neg_lab + pos_lab


def _dynamic_k(cost: torch.Tensor, iou: torch.Tensor, topq: int) -> torch.Tensor:
    matching = torch.zeros_like(cost)
    q = min(topq, iou.shape[0])
    ks = torch.topk(iou, q, dim=0).values.sum(0).int().clamp(min=1)
    for g in range(cost.shape[1]):
        _, idx = torch.topk(cost[:, g], k=int(ks[g]), largest=False)
        matching[idx, g] = 1.0
    shared = matching.sum(1) > 1
    if shared.any():
        best = cost[shared].argmin(1)
        matching[shared] = 0.0
        matching[shared.nonzero().squeeze(1), best] = 1.0
    return matching


class DamoLoss:
    """Callable(cls_logits, reg_logits, priors, targets) -> dict(total, qfl, giou, dfl)."""

    def __init__(
        self, num_classes: int, reg_max: int, weights: tuple[float, float, float] = (1.0, 2.0, 0.25)
    ):
        self.nc, self.reg_max = num_classes, reg_max
        self.w_qfl, self.w_giou, self.w_dfl = weights

    def decode(self, reg_logits: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
        probs = reg_logits.softmax(-1)
        project = torch.arange(self.reg_max + 1, dtype=probs.dtype, device=probs.device)
        dist = (probs @ project) * priors[:, 2:3]
        xy = priors[:, :2]
        return torch.cat((xy - dist[..., :2], xy + dist[..., 2:]), -1)

    def assign(self, scores, boxes, priors, targets: Sequence[tuple[torch.Tensor, torch.Tensor]]):
        return [align_ota(scores[i].detach(), boxes[i].detach(), priors, gb.float(), gl)
                for i, (gb, gl) in enumerate(targets)]  # fmt: skip

    def __call__(self, cls_logits, reg_logits, priors, targets) -> dict[str, torch.Tensor]:
        b, a, c = cls_logits.shape
        scores = cls_logits.float().sigmoid()
        reg_logits = reg_logits.float()
        boxes = self.decode(reg_logits, priors)
        assigned = self.assign(scores, boxes, priors, targets)
        pos = torch.cat([asg.pos + i * a for i, asg in enumerate(assigned)])
        labels = torch.cat([asg.labels for asg in assigned])
        quality = torch.cat([asg.scores for asg in assigned])
        gt = torch.cat([asg.boxes for asg in assigned])
        n_pos = max(float(pos.numel()), 1.0)
        flat = scores.reshape(-1, c)
        qfl = self._qfl(flat, pos, labels, quality).sum() / n_pos
        if pos.numel() == 0:
            zero = boxes.sum() * 0.0
            return {
                "total": qfl + zero,
                "qfl": qfl.detach(),
                "giou": zero.detach(),
                "dfl": zero.detach(),
            }
        weight = flat.detach()[pos].max(1).values
        norm = max(float(weight.sum()), 1.0)
        pos_boxes = boxes.reshape(-1, 4)[pos]
        giou = self.w_giou * ((1 - aligned_giou(pos_boxes, gt)) * weight).sum() / norm
        pri = priors.repeat(b, 1)[pos]
        dfl = self._dfl(reg_logits.reshape(-1, 4, self.reg_max + 1)[pos], pri, gt, weight) / (
            4 * norm
        )
        qfl = self.w_qfl * qfl
        return {
            "total": qfl + giou + dfl,
            "qfl": qfl.detach(),
            "giou": giou.detach(),
            "dfl": dfl.detach(),
        }

    @staticmethod
    def _qfl(
        p: torch.Tensor, pos: torch.Tensor, labels: torch.Tensor, q: torch.Tensor
    ) -> torch.Tensor:
        """Per prior, the class-summed quality focal loss (beta 2) on probabilities."""
        loss = F.binary_cross_entropy(p, torch.zeros_like(p), reduction="none") * p.pow(2)
        if pos.numel():
            pl = p[pos, labels]
            loss[pos, labels] = F.binary_cross_entropy(pl, q, reduction="none") * (
                q - pl
            ).abs().pow(2)
        return loss.sum(1)

    def _dfl(
        self, logits: torch.Tensor, priors: torch.Tensor, gt: torch.Tensor, weight: torch.Tensor
    ):
        stride = priors[:, 2:3]
        pts = priors[:, :2] / stride
        g = gt / stride
        target = torch.cat((pts - g[:, :2], g[:, 2:] - pts), 1).clamp(0, self.reg_max - 0.1)
        left = target.long()
        wl, wr = (left + 1).float() - target, target - left.float()
        rows, left = logits.reshape(-1, self.reg_max + 1), left.reshape(-1)
        ce_left = F.cross_entropy(rows, left, reduction="none") * wl.reshape(-1)
        ce_right = F.cross_entropy(rows, left + 1, reduction="none") * wr.reshape(-1)
        ce = ce_left + ce_right
        return self.w_dfl * (ce * weight[:, None].expand(-1, 4).reshape(-1)).sum()
