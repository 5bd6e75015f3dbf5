"""Registered YOLOv5 v7.0 variants with their published README v6.1+ figures (COCO val2017)."""

from __future__ import annotations

from collections.abc import Sequence

from ...registry import register_model
from .model import YOLOv5, YOLOv5Scale

# name: (depth, width, p6, published figures). Published = README of v7.0 (post-v6.1 values):
# mAP from pycocotools at 640 (1280 for P6), CPU b1 = PyTorch on an AWS p3.2xlarge Xeon,
# V100 b1 = PyTorch; params (M) fused; GFLOPs at 640 for every model.
_VARIANTS = {
    "yolov5n": (0.33, 0.25, False, (28.0, 45.7, 45, 6.3, 1.9, 4.5)),
    "yolov5s": (0.33, 0.50, False, (37.4, 56.8, 98, 6.4, 7.2, 16.5)),
    "yolov5m": (0.67, 0.75, False, (45.4, 64.1, 224, 8.2, 21.2, 49.0)),
    "yolov5l": (1.00, 1.00, False, (49.0, 67.3, 430, 10.1, 46.5, 109.1)),
    "yolov5x": (1.33, 1.25, False, (50.7, 68.9, 766, 12.1, 86.7, 205.7)),
    "yolov5n6": (0.33, 0.25, True, (36.0, 54.4, 153, 8.1, 3.2, 4.6)),
    "yolov5s6": (0.33, 0.50, True, (44.8, 63.7, 385, 8.2, 12.6, 16.8)),
    "yolov5m6": (0.67, 0.75, True, (51.3, 69.3, 887, 11.1, 35.7, 50.0)),
    "yolov5l6": (1.00, 1.00, True, (53.7, 71.3, 1784, 15.8, 76.8, 111.4)),
    "yolov5x6": (1.33, 1.25, True, (55.0, 72.7, 3136, 26.2, 140.7, 209.8)),
}
_PUBLISHED_KEYS = ("map50_95", "map50", "cpu_b1_ms", "v100_b1_ms", "params_m", "gflops_640")

SCALES = {name: YOLOv5Scale(d, w, p6) for name, (d, w, p6, _) in _VARIANTS.items()}


def _register(name: str) -> None:
    depth, width, p6, figures = _VARIANTS[name]
    published = dict(zip(_PUBLISHED_KEYS, figures, strict=True))
    published["source"] = "ultralytics/yolov5 v7.0 README (v6.1+ table)"
    published["latency_setup"] = "PyTorch CPU b1, Colab Pro Xeon (AWS p3.2xlarge)"

    @register_model(name, family="yolov5", imgsz=1280 if p6 else 640, published=published)
    def build(
        num_classes: int = 80,
        names: dict[int, str] | Sequence[str] | None = None,
        anchors: Sequence[Sequence[float]] | None = None,
    ) -> YOLOv5:
        return YOLOv5(SCALES[name], num_classes=num_classes, names=names, anchors=anchors)

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = f"YOLOv5 v7.0 '{name}' (depth {depth}, width {width}{', P6' if p6 else ''})."


for _name in _VARIANTS:
    _register(_name)

# Instance segmentation, v7.0 release table (COCO val2017 at 640): box and mask mAP50-95 (from
# pycocotools), ONNX CPU (Colab Pro) and TensorRT A100 latency in ms, params (M), GFLOPs at 640.
_SEG_VARIANTS = {
    "yolov5n-seg": ("yolov5n", (27.6, 23.4, 62.7, 1.2, 2.0, 7.1)),
    "yolov5s-seg": ("yolov5s", (37.6, 31.7, 173.3, 1.4, 7.6, 26.4)),
    "yolov5m-seg": ("yolov5m", (45.0, 37.1, 427.0, 2.2, 22.0, 70.8)),
    "yolov5l-seg": ("yolov5l", (49.0, 39.9, 857.4, 2.9, 47.9, 147.7)),
    "yolov5x-seg": ("yolov5x", (50.7, 41.4, 1579.2, 4.5, 88.8, 265.7)),
}
_SEG_PUBLISHED_KEYS = (
    "map50_95", "mask_map50_95", "onnx_cpu_ms", "trt_a100_ms", "params_m", "gflops_640",
)  # fmt: skip
SEG_SCALES = {name: SCALES[det] for name, (det, _) in _SEG_VARIANTS.items()}


def _register_seg(name: str) -> None:
    from .segment import YOLOv5Seg

    scale = SEG_SCALES[name]
    published = dict(zip(_SEG_PUBLISHED_KEYS, _SEG_VARIANTS[name][1], strict=True))
    published["source"] = "ultralytics/yolov5 v7.0 release (segmentation table)"
    published["latency_setup"] = "ONNX CPU on Colab Pro; TensorRT FP16 on an A100"

    @register_model(name, family="yolov5", imgsz=640, published=published, task="segment")
    def build(
        num_classes: int = 80,
        names: dict[int, str] | Sequence[str] | None = None,
        anchors: Sequence[Sequence[float]] | None = None,
    ) -> YOLOv5Seg:
        return YOLOv5Seg(scale, num_classes=num_classes, names=names, anchors=anchors)

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = (
        f"YOLOv5 v7.0 '{name}' instance segmentation (depth {scale.depth}, width {scale.width})."
    )


for _name in _SEG_VARIANTS:
    _register_seg(_name)
