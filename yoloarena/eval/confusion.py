"""Confusion matrix of detections against ground truth (last row/column = background)."""

from __future__ import annotations

import numpy as np
import torch

from ..ops.boxes import box_iou
from ..structures import Targets


class ConfusionMatrix:
    """matrix[predicted, true]; detections below conf are ignored, matches need IoU > iou."""

    def __init__(self, num_classes: int, conf: float = 0.25, iou: float = 0.45) -> None:
        self.nc, self.conf, self.iou = num_classes, conf, iou
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)

    def update(
        self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, targets: Targets
    ) -> None:
        keep = scores > self.conf
        boxes, labels = boxes[keep], labels[keep].astype(np.int64)
        use = ~targets.crowd if targets.crowd is not None else np.ones(len(targets), bool)
        gt_boxes, gt_labels = targets.boxes[use], targets.labels[use]
        bg = self.nc
        if not len(gt_labels):
            np.add.at(self.matrix, (labels, bg), 1)
            return
        if not len(labels):
            np.add.at(self.matrix, (bg, gt_labels), 1)
            return
        iou = box_iou(torch.from_numpy(gt_boxes).float(), torch.from_numpy(boxes).float()).numpy()
        gi, di = np.nonzero(iou > self.iou)
        order = np.argsort(-iou[gi, di], kind="stable")
        gi, di = gi[order], di[order]
        _, first_d = np.unique(di, return_index=True)  # best pair per detection
        gi, di = gi[first_d], di[first_d]
        order = np.argsort(-iou[gi, di], kind="stable")
        gi, di = gi[order], di[order]
        _, first_g = np.unique(gi, return_index=True)  # then best pair per ground truth
        gi, di = gi[first_g], di[first_g]
        np.add.at(self.matrix, (labels[di], gt_labels[gi]), 1)
        unmatched_gt = np.setdiff1d(np.arange(len(gt_labels)), gi)
        unmatched_det = np.setdiff1d(np.arange(len(labels)), di)
        np.add.at(self.matrix, (bg, gt_labels[unmatched_gt]), 1)
        np.add.at(self.matrix, (labels[unmatched_det], bg), 1)

    def normalized(self) -> np.ndarray:
        """Each true-class column divided by its total."""
        return self.matrix / np.maximum(self.matrix.sum(0, keepdims=True), 1)
