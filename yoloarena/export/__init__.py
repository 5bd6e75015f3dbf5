"""Export to deployment formats, each checked before it counts as done: float files against
PyTorch, INT8 files by AP next to their FP32 file, CoreML off macOS by its spec.

path = yoloarena.load("yolov5n.pt").export("onnx", imgsz=640, dynamic=True)
model = yoloarena.load(path)          # same predict / val API, on ONNX Runtime
"""

from __future__ import annotations

import copy
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..devices import select_device
from ..errors import YoloArenaError, unknown
from ..models.base import Detector, as_module
from .check import Parity, ParityError, check_image, compare_detections, compare_raw, parity_input
from .coreml import MACOS, structural_check, to_coreml
from .formats import to_engine, to_onnx, to_openvino, to_torchscript
from .graph import ExportGraph, output_names
from .meta import export_metadata
from .runtime import RuntimeDetector, load_exported
from .tflite import to_tflite

LOGGER = logging.getLogger("yoloarena")
FORMATS = ("onnx", "openvino", "torchscript", "engine", "coreml", "tflite")
INT8_FORMATS = ("onnx", "openvino", "tflite", "engine")
_SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript", "engine": ".engine",
           "tflite": ".tflite", "coreml": ".mlpackage"}  # fmt: skip

__all__ = [
    "FORMATS",
    "ExportResult",
    "RuntimeDetector",
    "check_format",
    "export_model",
    "load_exported",
]


@dataclass
class ExportResult:
    path: Path
    format: str
    parity: Parity
    seconds: float
    meta: dict[str, Any] = field(repr=False, default_factory=dict)
    accuracy: dict[str, float] | None = None  # INT8: AP of the FP32 and INT8 files, the drop

    def check_line(self) -> str:
        """What the export's check showed, in one line."""
        if self.accuracy is not None:
            a = self.accuracy
            return (f"INT8 accuracy check on {int(a['images'])} val images: AP {a['fp32_AP']:.4f} "
                    f"(FP32 file) -> {a['int8_AP']:.4f} (INT8), drop {a['drop_AP']:.4f}; AP50 "
                    f"{a['fp32_AP50']:.4f} -> {a['int8_AP50']:.4f}")  # fmt: skip
        if self.parity.max_abs:
            return f"parity check passed, max |diff| vs PyTorch: {self.parity.summary()}"
        return self.parity.summary()


def default_path(model: Detector, fmt: str, tag: str = "") -> Path:
    """Next to the weights file (yolov5n.pt -> yolov5n.onnx, yolov5n_int8.onnx), else <model
    name> in the cwd."""
    src = getattr(model, "weights_info", {}).get("path")
    base = Path(src).with_suffix("") if src else Path(model.model_name or model.family or "model")
    base = base.with_name(base.name + tag)
    if fmt == "openvino":
        return base.with_name(base.name + "_openvino_model")
    return base.with_name(base.name + _SUFFIX[fmt])


def _with_suffix(path: Path, fmt: str) -> Path:
    """The file name with its format's suffix (runtimes are chosen by it)."""
    suffix = _SUFFIX.get(fmt)
    return path.with_name(path.name + suffix) if suffix and path.suffix != suffix else path


def _imgsz(imgsz: int | tuple[int, int] | list[int] | None, model: Detector) -> tuple[int, int]:
    size = imgsz or model.imgsz
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or min(hw) <= 0:
        raise YoloArenaError(f"imgsz={imgsz} must be a size or [height, width]")
    s = max(model.stride)
    fixed = tuple(max(math.ceil(v / s) * s, s) for v in hw)
    if fixed != hw:
        LOGGER.warning("imgsz=%s is not a multiple of the stride %d; using %s", hw, s, fixed)
    if fixed[0] != fixed[1]:
        raise YoloArenaError(f"imgsz={list(fixed)}: only square exports are supported for now")
    return fixed  # type: ignore[return-value]


def check_format(fmt: str) -> str:
    """The format name, lower case; unknown formats raise a clear error."""
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise unknown("format", fmt, FORMATS, hint="formats: " + ", ".join(FORMATS))
    return fmt


def _check_args(fmt: str, half: bool, device: torch.device, batch: int, opts: dict) -> None:
    check_format(fmt)
    if half and fmt in ("onnx", "torchscript") and device.type != "cuda":
        raise YoloArenaError(
            f"half=True for format={fmt} needs device=0 (CUDA); on CPU use format=openvino "
            "half=True (FP16 IR), format=tflite half=True (fp16 weights) or keep FP32"
        )
    if batch < 1:
        raise YoloArenaError(f"batch={batch} must be at least 1")
    if opts["int8"]:
        if fmt not in INT8_FORMATS:
            raise YoloArenaError(f"int8=True is for format={', '.join(INT8_FORMATS)}, not {fmt}")
        if not opts["data"]:
            raise YoloArenaError(
                "int8=True needs data=<dataset yaml>: calibration images come from its train "
                "split and the accuracy check runs val on its val split"
            )
        if half and fmt != "engine":
            raise YoloArenaError("int8=True and half=True together are for format=engine only")
    if opts["nms"] and fmt in ("tflite", "coreml"):
        raise YoloArenaError(f"nms=True is not available for format={fmt}; predict runs NMS")
    if fmt in ("tflite", "coreml") and (opts["dynamic"] or batch != 1 or device.type != "cpu"):
        raise YoloArenaError(f"format={fmt} is exported at a fixed size, batch=1, on device=cpu")


def export_model(
    model: Detector,
    format: str = "onnx",
    *,
    imgsz: int | tuple[int, int] | None = None,
    batch: int = 1,
    half: bool = False,
    int8: bool = False,
    data: str | Path | None = None,
    fraction: float = 1.0,
    calib_images: int = 300,
    dynamic: bool = False,
    simplify: bool = True,
    nms: bool = False,
    opset: int = 17,
    conf: float | None = None,
    iou: float | None = None,
    max_det: int = 300,
    multi_label: bool = False,
    file: str | Path | None = None,
    image: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> ExportResult:
    """Export model (a copy, deployed) and check the file: against PyTorch on a real image
    (float files), or by AP on data's val split next to the FP32 file (int8=True, calibrated
    on min(calib_images, fraction x) images of data's train split)."""
    model = as_module(model)
    fmt = str(format).lower()
    if model.task == "classify":  # output contract: probs [B, C]
        from .classify import export_classifier

        return export_classifier(model, fmt, imgsz=imgsz, batch=batch, half=half, int8=int8,
                                 dynamic=dynamic, simplify=simplify, nms=nms, opset=opset,
                                 file=file, image=image, device=device)  # fmt: skip
    dev = select_device(device)
    opts = {"int8": int8, "data": data, "nms": nms, "dynamic": dynamic}
    _check_args(fmt, half, dev, batch, opts)
    if isinstance(model, RuntimeDetector):
        raise YoloArenaError(f"'{model.source}' is already an exported file; export the .pt")
    if model.task == "segment" and (fmt in ("tflite", "coreml") or int8):
        raise YoloArenaError(
            f"{'int8=True' if int8 else f'format={fmt}'} is not available for segmentation "
            "models yet; use format=onnx, openvino, torchscript or engine"
        )
    hw = _imgsz(imgsz, model)
    tag = "_int8" if int8 else "_fp16" if half and fmt == "tflite" else ""
    path = _with_suffix(Path(file), fmt) if file else default_path(model, fmt, tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = dict(imgsz=hw, batch=batch, dynamic=dynamic, simplify=simplify, nms=nms, opset=opset,
                  conf=conf, iou=iou, max_det=max_det, multi_label=multi_label, image=image,
                  device=dev)  # fmt: skip
    if int8:
        from .int8 import export_int8

        return export_int8(model, fmt, path, half, data, fraction, calib_images, kwargs)
    return _export_float(model, fmt, path, half, **kwargs)


def _export_float(model, fmt, path, half, *, imgsz, batch, dynamic, simplify, nms, opset, conf,
                  iou, max_det, multi_label, image, device) -> ExportResult:  # fmt: skip
    net = copy.deepcopy(model).float().to(device).deploy()
    settings = {
        "conf": model.predict_defaults.conf if conf is None else conf,
        "iou": model.predict_defaults.iou if iou is None else iou,
        "max_det": max_det,
        "multi_label": multi_label,
    }
    graph = ExportGraph(net, nms, **settings).eval()
    names = output_names(net, nms)
    meta = export_metadata(net, fmt, imgsz, batch, dynamic, half, names, settings if nms else None)
    x = parity_input(net, check_image(image), imgsz, batch).to(device)
    t0 = time.perf_counter()
    _write(fmt, graph, x, path, names, meta, dynamic, opset, simplify, half, batch)
    seconds = time.perf_counter() - t0
    if fmt == "coreml" and not MACOS:
        with torch.inference_mode():
            shapes = {"images": list(x.shape), **{n: list(t.shape) for n, t in
                                                    zip(names, graph(x), strict=True)}}  # fmt: skip
        parity = structural_check(path, shapes, meta)
    else:
        parity = _parity(graph, net, x, path, names, half, device, nms, settings)
    if not parity.ok:
        _remove(path)
        raise ParityError(
            f"{fmt} export of {model.model_name or 'the model'} does not match PyTorch "
            f"(max |diff| {parity.summary()}; allowed {parity.allowed}); the file was removed"
        )
    LOGGER.info("%s export saved to %s (%.1f s); %s", fmt, path, seconds, parity.summary())
    return ExportResult(path, fmt, parity, seconds, meta)


def _write(fmt, graph, x, path, names, meta, dynamic, opset, simplify, half, batch) -> None:
    if fmt == "onnx":
        to_onnx(graph.half() if half else graph, x.half() if half else x, path, names, meta,
                dynamic, opset, simplify)  # fmt: skip
    elif fmt == "torchscript":
        to_torchscript(graph.half() if half else graph, x.half() if half else x, path, meta)
    elif fmt == "tflite":
        to_tflite(graph, x, path, meta, half)
    elif fmt == "coreml":
        to_coreml(graph, x, path, names, meta, half)
    else:  # openvino and engine start from a temporary FP32 ONNX file
        tmp = Path(tempfile.mkdtemp(prefix="yoloarena-export-"))
        try:
            onnx_file = to_onnx(graph, x, tmp / "model.onnx", names, meta, dynamic, opset, simplify)
            if fmt == "openvino":
                to_openvino(onnx_file, path, meta, half)
            else:
                to_engine(onnx_file, path, meta, half, dynamic, batch)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    graph.float()


@torch.inference_mode()
def _parity(graph, net, x, path, names, half, dev, nms, settings) -> Parity:
    runtime = load_exported(path, dev)
    got = runtime.session(x)
    if not nms:
        return compare_raw(list(graph(x)), got, names, half)
    args = (settings["conf"], settings["iou"], settings["max_det"], settings["multi_label"])
    if net.task == "segment":
        from .seg_check import compare_segments

        got = runtime.postprocess_segments(runtime(x), settings["conf"])
        return compare_segments(net.postprocess_segments(net(x), *args), got, half)
    ref = net.postprocess(net(x), *args)
    dets = runtime(x).dets
    return compare_detections(ref, dets, half)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
