"""Tensor operations shared by every family: box formats, letterbox, NMS."""

from .boxes import (
    box_area,
    box_iou,
    clip_boxes,
    complete_box_iou,
    cxcywh_to_xyxy,
    generalized_box_iou,
    ltwh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_ltwh,
)
from .letterbox import batch_shape, letterbox, letterbox_boxes, unletterbox
from .nms import multiclass_nms, multiclass_nms_indices, nms

__all__ = [
    "batch_shape",
    "box_area",
    "box_iou",
    "clip_boxes",
    "complete_box_iou",
    "cxcywh_to_xyxy",
    "generalized_box_iou",
    "letterbox",
    "letterbox_boxes",
    "ltwh_to_xyxy",
    "multiclass_nms",
    "multiclass_nms_indices",
    "nms",
    "unletterbox",
    "xyxy_to_cxcywh",
    "xyxy_to_ltwh",
]
