"""TFLite through litert-torch (PyTorch -> LiteRT directly, no TensorFlow or ONNX in between),
run back in LiteRT's interpreter (ai-edge-litert).

litert-torch 0.10 inlines each constant after making it contiguous and caches the result under
the (data pointer, shape, strides) of that contiguous tensor. For a channels-last weight the
contiguous tensor is a temporary copy; once freed, the next same-shaped copy can get the same
address, hit the cache and take the earlier kernel. deploy() stores weights channels-last, so
about 40% of damoyolo-t's convolutions (the first one backbone.block_list.1.block_list.1.conv2)
and most of yolov5n's came out with another layer's kernel (0.1 to 500 px off, depending on
where the allocator put the copies). The graph is therefore converted from a copy whose every
parameter and buffer is contiguous: no temporaries, so no collisions, and parity holds.

The metadata is a zip archive appended to the flatbuffer (`yoloarena.json`), which the
interpreter ignores, as the official YOLOv5 export does.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import YoloArenaError
from .formats import _replace, quiet_tracing, require
from .meta import META_KEY, dumps, loads

EDGE_HINT = "install the edge extra: pip install 'yoloarena[edge]'"


def contiguous_copy(graph: torch.nn.Module) -> torch.nn.Module:
    """A copy of graph whose parameters and buffers are all contiguous (see the module doc)."""
    out = copy.deepcopy(graph)
    with torch.no_grad():
        for t in [*out.parameters(), *out.buffers()]:
            t.data = t.data.contiguous()
    return out


def to_tflite(
    graph: torch.nn.Module,
    x: torch.Tensor,
    path: Path,
    meta: dict[str, Any],
    half: bool = False,
    calib: list[np.ndarray] | None = None,
) -> dict:
    """A float32 .tflite (fp16 weights with half, static int8 with calib); returns the
    quantiser's description (empty for float32)."""
    litert_torch = require("litert_torch", "TFLite export", EDGE_HINT)
    from litert_torch import progress

    tmp = Path(tempfile.mkdtemp(prefix="yoloarena-tflite-"))
    quiet = progress.console.quiet
    try:
        progress.console.quiet = True  # its step-by-step progress lines
        with quiet_tracing():
            edge = litert_torch.convert(contiguous_copy(graph).eval(), (x.detach().cpu(),))
            edge.export(str(tmp / "fp32.tflite"))
        if half or calib is not None:
            return quantize_file(tmp / "fp32.tflite", path, None if half else calib, meta)
        _with_meta(tmp / "fp32.tflite", meta)
        _replace(tmp / "fp32.tflite", path)
        return {}
    finally:
        progress.console.quiet = quiet
        shutil.rmtree(tmp, ignore_errors=True)


def quantize_file(
    src: Path, path: Path, calib: list[np.ndarray] | None, meta: dict[str, Any]
) -> dict:
    """fp16 weights (calib None) or static int8 of a float .tflite, written to path."""
    from .quantize import tflite_quantize

    tmp = Path(tempfile.mkdtemp(prefix="yoloarena-tflite-q-"))
    try:
        info = tflite_quantize(src, tmp / "quant.tflite", calib)
        _with_meta(tmp / "quant.tflite", meta)
        _replace(tmp / "quant.tflite", path)
        return info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _with_meta(file: Path, meta: dict[str, Any]) -> None:
    with zipfile.ZipFile(file, "a") as z:
        z.writestr(f"{META_KEY}.json", dumps(meta))


def read_meta(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as z:
            text = z.read(f"{META_KEY}.json")
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise YoloArenaError(
            f"'{path}' has no yoloarena metadata ({e}); export it with `yoloarena export`"
        ) from None
    return loads(text, str(path))


class TFLiteSession:
    """LiteRT's interpreter (XNNPACK on CPU) on a .tflite file; NCHW float32 in and out."""

    device = torch.device("cpu")

    def __init__(self, path: Path, device: torch.device) -> None:
        if device.type != "cpu":
            raise YoloArenaError(f"'{path}' is a TFLite file: it runs on device=cpu only")
        require("ai_edge_litert", "Running TFLite models", EDGE_HINT)
        from ai_edge_litert.interpreter import Interpreter

        self.meta = read_meta(path)
        try:
            self.interpreter = Interpreter(
                model_path=str(path), num_threads=max(torch.get_num_threads(), 1)
            )
        except (ValueError, RuntimeError) as e:
            raise YoloArenaError(f"'{path}' is not a loadable TFLite model: {e}") from None
        self.runner = self.interpreter.get_signature_runner()
        self.input, detail = next(iter(self.runner.get_input_details().items()))
        self.in_dtype = np.dtype(detail["dtype"])
        self.in_scale, self.in_zero = (detail.get("quantization") or (0.0, 0))[:2]
        self.outputs = self.runner.get_output_details()
        self.names = sorted(self.outputs, key=_index)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        if self.in_dtype.kind in "iu":  # an int8 file quantises its input: do it as it says
            info = np.iinfo(self.in_dtype)
            arr = np.clip(np.round(arr / self.in_scale) + self.in_zero, info.min, info.max)
            arr = arr.astype(self.in_dtype)
        res = self.runner(**{self.input: arr})
        return [self._output(k, np.array(res[k])) for k in self.names]

    def _output(self, name: str, arr: np.ndarray) -> torch.Tensor:
        scale, zero = (self.outputs[name].get("quantization") or (0.0, 0))[:2]
        if arr.dtype.kind in "iu" and scale:  # a quantised output: back to float
            arr = (arr.astype(np.float32) - zero) * scale
        t = torch.from_numpy(np.ascontiguousarray(arr))
        return t.float() if t.is_floating_point() else t.long()


def _index(name: str) -> int:
    """litert-torch names outputs output_0, output_1, ... in the order the graph returns them."""
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0
