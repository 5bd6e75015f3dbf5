"""Exporting classifiers, and exported classifiers behind the Classifier API.

Output contract (every format): `probs` [B, C] float, class probabilities (softmax applied in the
graph). The file's metadata carries the task, names and the eval transform, so
`yoloarena.load(file)` predicts and validates like the PyTorch model.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import YoloArenaError
from ..models.base import Classifier
from ..models.classify_transform import ClassifyTransform
from .check import ParityError, check_image, compare_raw, parity_input
from .runtime import file_precision

LOGGER = logging.getLogger("yoloarena")
OUTPUTS = ["probs"]


class ClassifyExportGraph(nn.Module):
    """A deployed classifier that ends in softmax: images -> probs [B, C]."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.model(images).float().softmax(1),)  # a tuple, as every exported graph


def classify_metadata(model: Classifier, fmt: str, imgsz, batch, dynamic, half) -> dict[str, Any]:
    from .. import __version__

    meta = model.metadata()
    meta.update(format=fmt, imgsz=list(imgsz), batch=batch, dynamic=dynamic, half=half,
                outputs=list(OUTPUTS), nms=None, yoloarena_version=__version__,
                torch_version=torch.__version__,
                date=datetime.now(timezone.utc).isoformat(timespec="seconds"))  # fmt: skip
    return meta


FORMATS = ("onnx", "openvino", "torchscript", "engine")


def export_classifier(model: Classifier, fmt: str, *, imgsz=None, batch: int = 1,
                      half: bool = False, int8: bool = False, dynamic: bool = False,
                      simplify: bool = True, nms: bool = False, opset: int = 17, file=None,
                      image=None, device: str | torch.device = "cpu"):  # fmt: skip
    """export_model for a classifier (see yoloarena.export.export_model); returns ExportResult."""
    from ..devices import select_device
    from . import ExportResult, _check_args, _imgsz, _remove, _with_suffix, _write, default_path

    dev = select_device(device)
    _check_args(fmt, half, dev, batch, {"int8": False, "data": None, "nms": False,
                                        "dynamic": dynamic})  # fmt: skip
    if nms:
        raise YoloArenaError("nms=True applies to detectors; a classifier's file outputs probs")
    if int8 or fmt not in FORMATS:
        what = "int8=True" if int8 else f"format={fmt}"
        raise YoloArenaError(f"{what} is not available for classifiers yet (formats: "
                             f"{', '.join(FORMATS)}, FP32 or half=True)")  # fmt: skip
    if isinstance(model, RuntimeClassifier):
        raise YoloArenaError(f"'{model.source}' is already an exported file; export the .pt")
    hw = _imgsz(imgsz, model)
    net = copy.deepcopy(model).float().to(dev).deploy()
    graph = ClassifyExportGraph(net).eval()
    meta = classify_metadata(net, fmt, hw, batch, dynamic, half)
    x = parity_input(net, check_image(image), hw, batch).to(dev)
    path = _with_suffix(Path(file), fmt) if file else default_path(model, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _write(fmt, graph, x, path, OUTPUTS, meta, dynamic, opset, simplify, half, batch)
    seconds = time.perf_counter() - t0
    with torch.inference_mode():
        from .runtime import load_exported

        got = load_exported(path, dev).session(x)  # type: ignore[union-attr]
        parity = compare_raw(list(graph(x)), got, OUTPUTS, half)
    if not parity.ok:
        _remove(path)
        raise ParityError(
            f"{fmt} export of {model.model_name or 'the model'} does not match PyTorch "
            f"(max |diff| {parity.summary()}; allowed {parity.allowed}); the file was removed"
        )
    LOGGER.info("%s export saved to %s (%.1f s); parity vs PyTorch, max |diff|: %s",
                fmt, path, seconds, parity.summary())  # fmt: skip
    return ExportResult(path, fmt, parity, seconds, meta)


class RuntimeClassifier(Classifier):
    """An exported classifier behind the Classifier API (inference only; outputs probs)."""

    outputs_probabilities = True

    def __init__(self, session: Any, meta: dict[str, Any], source: str) -> None:
        h, w = meta["imgsz"]
        if h != w:
            raise YoloArenaError(f"'{source}' has a non-square input {h}x{w}; not supported")
        stride = max(meta["stride"])
        transform = ClassifyTransform.from_meta(meta["preprocess"], stride, h)
        super().__init__(meta["num_classes"], meta["names"], transform, imgsz=h, stride=stride)
        self.family = meta.get("family", "")
        self.model_name = meta.get("model_name", "")
        self.meta, self.session, self.source = meta, session, source
        self.backend = meta["format"]
        self.dynamic = bool(meta.get("dynamic"))
        self.batch = int(meta.get("batch", 1))
        self.precision = getattr(session, "precision", None) or file_precision(meta)
        self.deployed = True

    @property
    def device(self) -> torch.device:
        return self.session.device

    def deploy(self) -> RuntimeClassifier:
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.dynamic and tuple(images.shape[2:]) != tuple(self.meta["imgsz"]):
            raise YoloArenaError(
                f"'{self.source}' was exported for {self.meta['imgsz']} input, got "
                f"{list(images.shape[2:])}; use imgsz={self.imgsz} or export with dynamic=True"
            )
        n = images.shape[0]
        if self.dynamic or n == self.batch:
            return self.session(images)[0]
        parts = []
        for i in range(0, n, self.batch):  # a fixed-batch file: chunks, the last one padded
            chunk = images[i : i + self.batch]
            k = chunk.shape[0]
            if k < self.batch:
                chunk = torch.cat((chunk, chunk[:1].expand(self.batch - k, -1, -1, -1)), 0)
            parts.append(self.session(chunk)[0][:k])
        return torch.cat(parts, 0)

    def metadata(self) -> dict[str, Any]:
        return dict(self.meta)

    def extra_repr(self) -> str:
        return f"backend={self.backend}, source={self.source}"
