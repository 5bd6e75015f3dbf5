"""What an exported file computes: the deployed detector with a fixed output contract.

Raw contract (nms=False), the same names for both families:
  boxes       [B, N, 4]  float  x1, y1, x2, y2 in input pixels (the letterboxed/stretched image)
  scores      [B, N, C]  float  class probabilities (sigmoid applied)
  objectness  [B, N]     float  YOLOv5 only: objectness; confidence = scores * objectness

With nms=True the graph ends in ONNX NonMaxSuppression (per image and class, like predict):
  num_dets    [B, 1]     int64  detections per image (the first num_dets rows are valid)
  det_boxes   [B, K, 4]  float  xyxy input pixels, zero rows after num_dets
  det_scores  [B, K]     float  confidence (objectness * class probability for YOLOv5)
  det_labels  [B, K]     int64  class index
K is max_det; rows are sorted by descending score.

Segmentation models (metadata task: segment) add, after those:
  raw:  mask_coefficients [B, N, M]    float  raw mask coefficients of each row (M = 32)
        prototypes        [B, M, H/4, W/4]  float  the image's prototype masks
  NMS:  det_coefficients  [B, K, M]    float  the kept detections' coefficients, times objectness
                                              for YOLOv5 (as its NMS leaves them), zero rows
                                              after num_dets
        prototypes        [B, M, H/4, W/4]
A detection's mask is sigmoid(coefficients @ prototypes) at H/4 x W/4, kept inside its box; with
the raw outputs multiply the coefficients by the objectness first (YOLOv5), as predict does.
"""

from __future__ import annotations

import torch
import torchvision.ops as tvops
from torch import nn

from ..models.base import Detector

RAW_OUTPUTS = ("boxes", "scores", "objectness")
NMS_OUTPUTS = ("num_dets", "det_boxes", "det_scores", "det_labels")
SEG_RAW_OUTPUTS = ("mask_coefficients", "prototypes")
SEG_NMS_OUTPUTS = ("det_coefficients", "prototypes")


def output_names(model: Detector, nms: bool) -> list[str]:
    seg = getattr(model, "task", "detect") == "segment"
    if nms:
        return list(NMS_OUTPUTS) + list(SEG_NMS_OUTPUTS if seg else ())
    base = RAW_OUTPUTS if model.has_objectness else RAW_OUTPUTS[:2]
    return list(base) + list(SEG_RAW_OUTPUTS if seg else ())


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX NonMaxSuppression: [M, 3] (batch, class, box) per image and class, by score.

    Eager (and TorchScript) it runs torchvision's NMS; in ONNX export it becomes the standard op.
    """

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class, iou, conf):
        out = []
        n_cls = scores.shape[1]
        for b in range(boxes.shape[0]):
            for c in range(n_cls):
                s = scores[b, c]
                idx = (s > conf).nonzero().flatten()
                keep = idx[tvops.nms(boxes[b, idx], s[idx], float(iou))][: int(max_per_class)]
                col = torch.full_like(keep, b)
                out.append(torch.stack((col, torch.full_like(keep, c), keep), 1))
        if not out:
            return torch.zeros(0, 3, dtype=torch.long)
        return torch.cat(out, 0)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou, conf):
        return g.op("NonMaxSuppression", boxes, scores, max_per_class, iou, conf)


class ExportGraph(nn.Module):
    """A deployed Detector with the export output contract (see the module docstring)."""

    def __init__(
        self,
        model: Detector,
        nms: bool = False,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        multi_label: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.nms = nms
        self.conf, self.iou, self.max_det, self.multi_label = conf, iou, max_det, multi_label
        self.objectness = model.has_objectness
        self.segment = getattr(model, "task", "detect") == "segment"

    def forward(self, images: torch.Tensor):
        out = self.model(images)
        if not self.nms:
            raw = [out.boxes, out.scores] + ([out.objectness] if self.objectness else [])
            if self.segment:
                raw += [out.mask_coefficients, out.prototypes]
            return tuple(raw)
        if not self.segment:
            return self._nms(out.boxes, out.confidences())
        coef = out.mask_coefficients
        if self.objectness:
            coef = coef * out.objectness.unsqueeze(-1)
        return (*self._nms(out.boxes, out.confidences(), coef), out.prototypes)

    def _nms(self, boxes: torch.Tensor, conf: torch.Tensor, coef: torch.Tensor | None = None):
        """Per image and class NMS, then the max_det best of each image (TopK over a dense row)."""
        if not self.multi_label:  # only each box's best class competes (predict's default)
            best = conf.max(2, keepdim=True).values
            conf = conf * (conf >= best).to(conf.dtype)
        scores = conf.transpose(1, 2).contiguous()  # [B, C, N]
        sel = _NonMaxSuppression.apply(
            boxes.contiguous(),
            scores,
            torch.tensor([self.max_det], dtype=torch.long),
            torch.tensor([self.iou], dtype=torch.float32),
            torch.tensor([self.conf], dtype=torch.float32),
        )
        b, c, n = sel[:, 0], sel[:, 1], sel[:, 2]
        # every gather and scatter below takes ONE flat index: indexing with several index
        # tensors is exported with the index shape of the traced example baked in, which breaks
        # the file when tracing happened to select exactly one box
        num_c, num_n = scores.shape[1], scores.shape[2]
        sel_scores = scores.reshape(-1)[(b * num_c + c) * num_n + n]
        # a dense [B, M + K] score row per image (-1: empty) so that TopK(K) always exists;
        # built from tensor shapes only, so batch and M stay dynamic in the traced graph
        col = conf[:, 0, :1]  # [B, 1]
        dense = -(torch.ones_like(col) * torch.ones_like(sel_scores)[None])
        width = dense.shape[1]
        at = b * width + torch.ones_like(b).cumsum(0) - 1
        dense = dense.reshape(-1).scatter(0, at, sel_scores).reshape(dense.shape)
        dense = torch.cat((dense, (-torch.ones_like(col)).repeat(1, self.max_det)), 1)
        top, order = dense.topk(self.max_det, dim=1)
        valid = top > 0
        # row 0 of the pools is padding: invalid slots point at it
        order = torch.where(valid, order + 1, torch.zeros_like(order))
        row = b * boxes.shape[1] + n
        pool_boxes = torch.cat((torch.zeros_like(boxes[0, :1]), boxes.reshape(-1, 4)[row]), 0)
        pool_labels = torch.cat((torch.zeros_like(col[:1, 0], dtype=torch.long), c), 0)
        det_boxes = pool_boxes[order]
        det_scores = top * valid.to(top.dtype)
        num_dets = valid.sum(1, keepdim=True)
        if coef is None:
            return num_dets, det_boxes, det_scores, pool_labels[order]
        flat_coef = coef.reshape(-1, coef.shape[2])[row]
        pool_coef = torch.cat((torch.zeros_like(coef[0, :1]), flat_coef), 0)
        return num_dets, det_boxes, det_scores, pool_labels[order], pool_coef[order]
