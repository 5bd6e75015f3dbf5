"""Writers of each export format. Each takes the traced graph's example input and metadata."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import YoloArenaError
from .meta import META_KEY, dumps

LOGGER = logging.getLogger("yoloarena")
EXTRA_HINT = "install the export extra: pip install 'yoloarena[export]'"


def require(module: str, what: str, hint: str = EXTRA_HINT):
    """Import an optional dependency, or raise a message naming what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise YoloArenaError(f"{what} needs the '{module}' package ({e}); {hint}") from None


@contextlib.contextmanager
def quiet_tracing():
    """Silence the tracer's notes about Python values it records as constants (expected here:
    sizes, thresholds) and the exporters' deprecation chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _replace(tmp: Path, path: Path) -> Path:
    """Move a finished file or folder into place (never leaves a half-written export)."""
    if path.is_dir():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def to_onnx(
    graph: torch.nn.Module,
    x: torch.Tensor,
    path: Path,
    outputs: list[str],
    meta: dict[str, Any],
    dynamic: bool,
    opset: int,
    simplify: bool,
) -> Path:
    onnx = require("onnx", "ONNX export")
    axes: dict[str, dict[int, str]] | None = None
    if dynamic:
        axes = {"images": {0: "batch", 2: "height", 3: "width"}}
        for name in outputs:
            axes[name] = (
                {0: "batch"}
                if name.startswith(("num_", "det_", "probs"))
                else {0: "batch", 1: "anchors"}
            )
        if "prototypes" in axes:  # segmentation: [B, M, H/4, W/4]
            axes["prototypes"] = {0: "batch", 2: "proto_height", 3: "proto_width"}
    tmp = path.with_name(path.name + ".tmp")
    with quiet_tracing():
        torch.onnx.export(
            graph, (x,), str(tmp), dynamo=False, opset_version=opset, input_names=["images"],
            output_names=outputs, dynamic_axes=axes, do_constant_folding=True,
        )  # fmt: skip
    proto = onnx.load(str(tmp))
    onnx.checker.check_model(proto)
    if simplify:
        proto = _slim(proto)
    add_onnx_metadata(proto, meta)
    onnx.save(proto, str(tmp))
    return _replace(tmp, path)


def add_onnx_metadata(proto, meta: dict[str, Any]) -> None:
    """Our metadata, plus plain names/stride/imgsz keys for other tools, in metadata_props."""
    for key, value in (
        (META_KEY, dumps(meta)),
        ("names", json.dumps({str(k): v for k, v in meta["names"].items()})),
        ("stride", str(max(meta["stride"]))),
        ("imgsz", json.dumps(meta["imgsz"])),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "yoloarena"


def _slim(proto):
    onnxslim = require("onnxslim", "ONNX simplification (simplify=True)")
    try:
        return onnxslim.slim(proto)
    except Exception as e:  # keep the unsimplified graph: it was checked already
        LOGGER.warning("onnxslim failed (%s); keeping the unsimplified graph", e)
        return proto


def to_openvino(onnx_file: Path, path: Path, meta: dict[str, Any], half: bool) -> Path:
    """OpenVINO IR (model.xml + model.bin) in a folder, converted from the ONNX file."""
    ov = require("openvino", "OpenVINO export")
    model = ov.convert_model(str(onnx_file))
    model.set_rt_info(dumps(meta), [META_KEY])
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    try:
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=half)
        (tmp / f"{META_KEY}.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def to_torchscript(graph: torch.nn.Module, x: torch.Tensor, path: Path, meta: dict) -> Path:
    with quiet_tracing():
        traced = torch.jit.trace(graph, x, strict=False, check_trace=False)
    tmp = path.with_name(path.name + ".tmp")
    with quiet_tracing():
        torch.jit.save(traced, str(tmp), _extra_files={f"{META_KEY}.json": dumps(meta)})
    return _replace(tmp, path)


def to_engine(
    onnx_file: Path,
    path: Path,
    meta: dict,
    half: bool,
    dynamic: bool,
    batch: int,
    calib: list | None = None,
) -> Path:
    """TensorRT engine built from the ONNX file (CUDA + the tensorrt package); INT8 when calib
    (preprocessed [1, 3, H, W] float32 arrays) is given, with an entropy calibrator over them."""
    if not torch.cuda.is_available():
        raise YoloArenaError("format=engine (TensorRT) needs a CUDA GPU; this machine has none")
    trt = require("tensorrt", "TensorRT export", "pip install tensorrt (matching your CUDA)")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise YoloArenaError(f"TensorRT could not parse {onnx_file}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 4 << 30)
    if half or calib:
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 layers fall back to FP16, not FP32
    if dynamic:
        h, w = meta["imgsz"]
        profile = builder.create_optimization_profile()
        name = network.get_input(0).name
        opt = max(batch // 2, 1)
        profile.set_shape(name, (1, 3, h, w), (opt, 3, h, w), (batch, 3, h, w))
        config.add_optimization_profile(profile)
        if calib:
            config.set_calibration_profile(profile)
    if calib:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, calib, path.with_suffix(".cache"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise YoloArenaError(f"TensorRT failed to build an engine from {onnx_file}")
    text = dumps(meta).encode()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:  # [4-byte length][metadata json][engine], like the official
        f.write(len(text).to_bytes(4, "little", signed=True) + text + bytes(serialized))
    return _replace(tmp, path)


def _calibrator(trt, calib: list, cache: Path):
    """An IInt8EntropyCalibrator2 feeding the calibration arrays one by one from CUDA memory."""

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.items, self.current = iter(calib), None

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):
            x = next(self.items, None)
            if x is None:
                return None
            self.current = torch.from_numpy(x).cuda().contiguous()  # kept alive until the next
            return [int(self.current.data_ptr())]

        def read_calibration_cache(self):
            return None  # always calibrate on the images given

        def write_calibration_cache(self, data) -> None:
            cache.unlink(missing_ok=True)

    return Calibrator()
