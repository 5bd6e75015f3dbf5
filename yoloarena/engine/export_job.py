"""`yoloarena export`: write a deployment file and check it against PyTorch.

The file goes next to the weights (yolov5n.pt -> yolov5n.onnx) as in Ultralytics, or to file=;
with project= or name= it goes to the run folder project/name (runs/export/<name> without
project=), together with args.yaml.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import param, save_yaml
from ..devices import FORMS, check_device
from ..errors import YoloArenaError
from ..export import ExportResult, check_format, default_path, export_model
from ..loading import load_model
from .runs import run_dir

LOGGER = logging.getLogger("yoloarena")
_RUN_KEYS = ("model", "format", "project", "name", "exist_ok")


@dataclass
class ExportConfig:
    """Arguments of `yoloarena export` (see yoloarena.export.export_model)."""

    model: str = param("", "weights file (or a registered name: random weights) to export")
    format: str = param("onnx", "onnx, openvino, torchscript, engine (TensorRT), tflite or coreml")
    imgsz: int | None = param(None, "input size (None: the model's own)", gt=0)
    batch: int = param(1, "batch size (the maximum with dynamic=True for TensorRT)", ge=1)
    half: bool = param(False, "FP16 (OpenVINO IR, TFLite weights, CoreML compute; CUDA for "
                       "ONNX/TorchScript/TensorRT)")  # fmt: skip
    int8: bool = param(False, "INT8 (onnx, openvino, tflite, engine): needs data= to calibrate")
    data: str | None = param(None, "dataset: calibration (train split) and INT8 AP check (val)")
    fraction: float = param(1.0, "fraction of the train split used for calibration", gt=0, le=1)
    calib_images: int = param(300, "calibration images at most", ge=1)
    dynamic: bool = param(False, "dynamic batch and image size")
    simplify: bool = param(True, "simplify the ONNX graph (onnxslim)")
    nms: bool = param(False, "put NMS inside the graph")
    opset: int = param(17, "ONNX opset", ge=11)
    conf: float | None = param(None, "NMS confidence inside the graph (nms=True; None: predict's)",
                               ge=0, le=1)  # fmt: skip
    iou: float | None = param(None, "NMS IoU inside the graph (nms=True; None: predict's)",
                              ge=0, le=1)  # fmt: skip
    max_det: int = param(300, "detections per image at most inside the graph (nms=True)", ge=1)
    multi_label: bool = param(False, "several labels per box inside the graph (nms=True)")
    file: str | None = param(None, "output path (None: next to the weights, or the run folder)")
    image: str | None = param(None, "image for the parity check (None: a synthetic scene)")
    device: str = param("cpu", f"device: {FORMS}", check=check_device)
    project: str = param("", "run folder parent ('': runs/export); used with project= or name=")
    name: str = param("", "run folder name (given: the file goes to project/name)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")


def run_export(cfg: ExportConfig) -> ExportResult:
    if not cfg.model:
        raise YoloArenaError("export needs model=<weights .pt/.pth> (e.g. model=yolov5n.pt)")
    fmt = check_format(cfg.format)  # before loading anything
    model = load_model(cfg.model, device=cfg.device)
    kwargs = {k: v for k, v in vars(cfg).items() if k not in _RUN_KEYS}
    if (cfg.project or cfg.name) and not cfg.file:
        out = run_dir(cfg.project, "export", cfg.name or "exp", cfg.exist_ok)
        save_yaml(cfg, out / "args.yaml")
        kwargs["file"] = str(out / default_path(model, fmt).name)
    result = export_model(model, cfg.format, **kwargs)
    size = _size_mb(result.path)
    print(f"exported {result.path} ({size:.1f} MB, {result.format}); {result.check_line()}")
    print(f"run it: yoloarena predict model={result.path} source=...  |  "
          f"yoloarena val model={result.path} data=...")  # fmt: skip
    return result


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6
