"""Instance segmentation on the Detector contract: a segmenter is a detector whose HeadOutput
also carries mask coefficients (one row per decoded box) and prototypes (per image).

- `postprocess_segments`: confidence filter and NMS as for boxes, keeping each detection's
  coefficients and its image's prototypes (`SegDetections`);
- `segment_results`: Results with `Masks` at the original image size, decoded lazily.

Where the family has an objectness branch (YOLOv5) the kept coefficients are multiplied by it:
YOLOv5's NMS scales every column after the objectness by it, the 32 coefficients included, and
its masks are made from those scaled coefficients (reproduced here, see the parity tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..masks import Masks
from ..ops.masks import mask_probabilities
from ..ops.nms import multiclass_nms_indices
from ..structures import LetterboxInfo, Results

if TYPE_CHECKING:
    from .base import Detector, HeadOutput


@dataclass
class SegDetections:
    """Detections of one image with what their masks are made of (see ops.masks.process_masks).

    boxes [K, 4] xyxy input pixels, scores [K], labels [K]; coefficients [K, nm] as the family's
    NMS leaves them (YOLOv5: times objectness); prototypes [nm, h, w] of that image.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    coefficients: torch.Tensor
    prototypes: torch.Tensor

    def probabilities(self) -> torch.Tensor:
        """[K, h, w] sigmoid(coefficients @ prototypes), not cropped."""
        return mask_probabilities(self.prototypes, self.coefficients)

    def filtered(self, keep: torch.Tensor) -> SegDetections:
        return SegDetections(self.boxes[keep], self.scores[keep], self.labels[keep],
                             self.coefficients[keep], self.prototypes)  # fmt: skip


@torch.no_grad()
def postprocess_segments(
    output: HeadOutput,
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = 300,
    multi_label: bool = False,
    agnostic: bool = False,
    classes: Sequence[int] | None = None,
) -> list[SegDetections]:
    """Per image the detections after NMS, with their mask coefficients (see the module
    docstring) and the image's prototypes."""
    if output.boxes is None or output.mask_coefficients is None or output.prototypes is None:
        raise ValueError(
            "postprocess_segments needs a decoded HeadOutput with mask coefficients and "
            "prototypes (a segmentation model in eval mode)"
        )
    out = []
    for i in range(output.boxes.shape[0]):
        scores, coef = output.scores[i], output.mask_coefficients[i]
        keep = torch.arange(scores.shape[0], device=scores.device)
        if output.objectness is not None:
            obj = output.objectness[i]
            keep = (obj > conf).nonzero().squeeze(1)  # obj * cls > conf needs obj > conf
            scores = scores[keep] * obj[keep, None]
        else:
            scores = scores[keep]
        rows, score, label = multiclass_nms_indices(
            output.boxes[i, keep], scores, conf, iou, max_det, multi_label, agnostic, classes
        )
        rows = keep[rows]
        coef = coef[rows]
        if output.objectness is not None:
            coef = coef * output.objectness[i, rows, None]
        out.append(SegDetections(output.boxes[i, rows], score, label, coef,
                                 output.prototypes[i]))  # fmt: skip
    return out


def segment_results(
    model: Detector,
    dets: Sequence[SegDetections],
    arrays: Sequence[np.ndarray],
    infos: Sequence[LetterboxInfo],
    retina: bool = False,
) -> list[Results]:
    """Results with boxes mapped back to each original image and their masks (decoded to the
    original size on first use; the small masks are computed here)."""
    out = []
    for im, info, d in zip(arrays, infos, dets, strict=True):
        shape = im.shape[:2]
        boxes = model.transform.map_back(d.boxes, info, shape)
        masks = Masks(d.probabilities(), d.boxes, info, shape, retina=retina)
        out.append(Results(boxes, d.scores, d.labels, model.names, shape, orig_img=im,
                           masks=masks))  # fmt: skip
    return out
