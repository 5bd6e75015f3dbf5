"""`yoloarena export`: write a deployment file and check it against PyTorch."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..export import ExportResult, check_format, export_model
from ..loading import load

LOGGER = logging.getLogger("yoloarena")


@dataclass
class ExportConfig:
    """Arguments of `yoloarena export` (see yoloarena.export.export_model)."""

    model: str = "yolov5s"
    format: str = "onnx"
    imgsz: int | None = None  # None: the model's own size
    batch: int = 1  # the batch size (the maximum with dynamic=True for TensorRT)
    half: bool = False  # FP16 (OpenVINO IR, TFLite weights, CoreML compute; CUDA for ONNX/TS/TRT)
    int8: bool = False  # INT8 (onnx, openvino, tflite, engine): needs data= for calibration
    data: str | None = None  # calibration (train split) and the INT8 accuracy check (val split)
    fraction: float = 1.0  # fraction of the train split used for calibration...
    calib_images: int = 300  # ...at most this many images
    dynamic: bool = False
    simplify: bool = True
    nms: bool = False
    opset: int = 17
    conf: float | None = None  # NMS settings inside the graph (nms=True); None: predict defaults
    iou: float | None = None
    max_det: int = 300
    multi_label: bool = False
    file: str | None = None  # output path; default next to the weights file
    image: str | None = None  # the parity-check image; default a synthetic scene
    device: str = "cpu"


def run_export(cfg: ExportConfig) -> ExportResult:
    check_format(cfg.format)  # before loading anything
    model = load(cfg.model, device=cfg.device)
    kwargs = {k: v for k, v in vars(cfg).items() if k not in ("model", "format")}
    result = export_model(model, cfg.format, **kwargs)
    size = _size_mb(result.path)
    print(f"exported {result.path} ({size:.1f} MB, {result.format}); {result.check_line()}")
    print(f"run it: yoloarena predict model={result.path} source=...  |  "
          f"yoloarena val model={result.path} data=...")  # fmt: skip
    return result


def _size_mb(path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6
