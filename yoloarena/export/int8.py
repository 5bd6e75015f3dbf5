"""`export ... int8=True`: the FP32 file first (checked against PyTorch), then its INT8 version
calibrated on train images, then `val` of both on the val split: the check is the AP drop."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..models.base import Detector
from .check import Parity
from .quantize import calibration_inputs, int8_accuracy, onnx_int8, openvino_int8

LOGGER = logging.getLogger("yoloarena")
TOOLS = {
    "onnx": "onnxruntime.quantization quantize_static (QDQ, per-channel int8 weights, uint8 "
    "activations, MinMax)",
    "openvino": "nncf.quantize (MIXED preset)",
    "tflite": "ai-edge-quantizer static_wi8_ai8 (int8 weights and activations)",
    "engine": "TensorRT INT8 (entropy calibrator 2), FP16 fallback",
}
WARN_DROP = 0.03


def export_int8(
    model: Detector,
    fmt: str,
    path: Path,
    half: bool,
    data: str | Path,
    fraction: float,
    count: int,
    kwargs: dict[str, Any],
):
    from . import ExportResult, _export_float, _with_suffix

    ref_fmt = "onnx" if fmt == "engine" else fmt  # TensorRT builds from the ONNX file
    tmp = Path(tempfile.mkdtemp(prefix="yoloarena-int8-"))
    try:
        ref = _export_float(model, ref_fmt, _with_suffix(tmp / "fp32", ref_fmt), False, **kwargs)
        calib, source = calibration_inputs(model, data, kwargs["imgsz"], fraction, count)
        meta = {**ref.meta, "format": fmt, "int8": True, "half": half}
        meta["quantization"] = {"tool": TOOLS[fmt], "calibration": source, "images": len(calib)}
        t0 = time.perf_counter()
        _quantize(fmt, ref.path, path, calib, meta, half, kwargs)
        seconds = time.perf_counter() - t0
        device = str(kwargs["device"])
        accuracy = int8_accuracy(ref.path, path, data, kwargs["imgsz"][0], device)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = (f"the FP32 {ref_fmt} file matched PyTorch before quantisation (max |diff| "
            f"{ref.parity.summary()})")  # fmt: skip
    result = ExportResult(path, fmt, Parity({}, {}, True, note), seconds, meta, accuracy)
    LOGGER.info("%s INT8 export saved to %s (%.1f s); %s", fmt, path, seconds, result.check_line())
    if accuracy["drop_AP"] > WARN_DROP:
        LOGGER.warning("INT8 costs %.3f AP on %s; calibrate on more images (calib_images=, "
                       "fraction=) or keep FP32", accuracy["drop_AP"], data)  # fmt: skip
    return result


def _quantize(fmt, src: Path, path: Path, calib, meta, half: bool, kwargs) -> None:
    if fmt == "onnx":
        onnx_int8(src, path, calib, meta)
    elif fmt == "openvino":
        openvino_int8(src, path, calib, meta)
    elif fmt == "tflite":
        from .tflite import quantize_file

        quantize_file(src, path, calib, meta)
    else:
        from .formats import to_engine

        to_engine(src, path, meta, half, kwargs["dynamic"], kwargs["batch"], calib)
