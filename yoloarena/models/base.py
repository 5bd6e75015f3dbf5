"""The Detector contract, the same for every family.

- ``forward(images) -> HeadOutput``: raw per-level maps, plus decoded boxes/scores in eval mode.
- ``criterion(output, targets) -> dict[str, Tensor]`` (losses with a ``total``).
- ``postprocess(output, ...) -> list[(boxes, scores, labels)]``: decode + NMS, input pixels.
- ``predict(source, ...) -> list[Results]``: preprocess, forward, postprocess, map back.
- ``deploy()``: fuse Conv+BN (and re-parameterise) for inference and export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from ..nn.fuse import fuse_model
from ..ops.nms import multiclass_nms


@dataclass
class HeadOutput:
    """What a detector's forward returns, in training and in eval.

    levels: the raw head maps, one per level, in the family's own layout (used by the loss).
    boxes: [B, N, 4] xyxy in input pixels; scores: [B, N, C] class probabilities;
    objectness: [B, N] or None for families without an objectness branch. Decoded fields are
    None in training mode.
    Segmentation models add mask_coefficients [B, N, M] (raw, one row per decoded box; decoded
    fields) and prototypes [B, M, H/4, W/4] (train and eval): a box's mask is
    sigmoid(coefficients @ prototypes), cropped to the box (see ops.masks).
    """

    levels: list[torch.Tensor]
    boxes: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    objectness: torch.Tensor | None = None
    mask_coefficients: torch.Tensor | None = None
    prototypes: torch.Tensor | None = None

    def confidences(self) -> torch.Tensor:
        """[B, N, C] final class confidences (scores times objectness when there is one)."""
        if self.scores is None:
            raise ValueError("HeadOutput is not decoded (the model was in training mode)")
        if self.objectness is None:
            return self.scores
        return self.scores * self.objectness.unsqueeze(-1)


@dataclass(frozen=True)
class Preprocess:
    """How images become the network input (the family's own rule)."""

    resize: Literal["letterbox", "stretch"] = "letterbox"
    rgb: bool = True  # channel order the network expects
    divisor: float = 255.0  # pixel values are divided by this (1.0: raw 0..255)
    pad_value: int = 114
    rect: bool = True  # letterbox to the smallest stride-multiple rectangle (PyTorch only)


@dataclass(frozen=True)
class EvalProtocol:
    """How a family is validated: NMS settings and batching (its official val defaults)."""

    conf: float = 0.001
    iou: float = 0.6
    max_det: int = 300
    multi_label: bool = True
    rect: bool = True  # rectangular batches (letterbox families only)
    pad: float = 0.5  # extra stride fraction of rectangular batch shapes


@dataclass(frozen=True)
class PostprocessDefaults:
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)


class Detector(nn.Module):
    """Base class of every detector; subclasses build layers and implement forward."""

    family: ClassVar[str] = ""
    task: ClassVar[str] = "detect"  # "detect" or "segment" (a segmenter is a detector with masks)
    has_objectness: ClassVar[bool] = False  # decoded outputs include an objectness branch
    predict_defaults: ClassVar[PostprocessDefaults] = PostprocessDefaults()
    eval_protocol: ClassVar[EvalProtocol] = EvalProtocol()
    default_hyp: str | None = None  # the family's training preset for this model (None: default)

    def __init__(
        self,
        num_classes: int,
        stride: Sequence[int],
        names: dict[int, str] | Sequence[str] | None = None,
        preprocess: Preprocess | None = None,
        imgsz: int = 640,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.stride = tuple(int(s) for s in stride)
        self.names = normalize_names(names, self.num_classes)
        self.preprocess = preprocess or Preprocess()
        self.imgsz = imgsz
        self.model_name = ""
        self.deployed = False

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover
        """Neck outputs, finest level first (strides 8, 16, 32, ...)."""
        raise NotImplementedError

    def head_output(self, feats: list[torch.Tensor]) -> HeadOutput:  # pragma: no cover
        """The head on neck outputs: raw levels, decoded too in eval mode."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, return_features: bool = False):
        """HeadOutput of images; with return_features, (HeadOutput, neck outputs) for distillation
        (one call, so it also works through DistributedDataParallel)."""
        feats = self.features(images)
        out = self.head_output(feats)
        return (out, feats) if return_features else out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """model(tensor) runs forward; model(path | array | PIL | list, ...) runs predict."""
        if args and not isinstance(args[0], torch.Tensor):
            return self.predict(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    def configure_criterion(self, hyp: Any, imgsz: int) -> None:
        """Set up the loss for training with these hyperparameters at this image size."""
        raise NotImplementedError(f"training is not available for {self.family} yet")

    def criterion(self, output: HeadOutput, targets: Any) -> dict[str, torch.Tensor]:
        """Losses of a training-mode output against BatchTargets, with a differentiable 'total'."""
        raise NotImplementedError(f"training is not available for {self.family} yet")

    @torch.no_grad()
    def postprocess(
        self,
        output: HeadOutput,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        multi_label: bool = False,
        agnostic: bool = False,
        classes: Sequence[int] | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per image (boxes xyxy in input pixels, scores, labels) after confidence filter + NMS."""
        if output.boxes is None or output.scores is None:
            raise ValueError("postprocess needs a decoded HeadOutput (call the model in eval mode)")
        results = []
        for i in range(output.boxes.shape[0]):
            boxes, scores = output.boxes[i], output.scores[i]
            if output.objectness is not None:
                obj = output.objectness[i]
                keep = obj > conf  # cheap pre-filter: obj * cls > conf needs obj > conf
                boxes, scores = boxes[keep], scores[keep] * obj[keep, None]
            results.append(
                multiclass_nms(boxes, scores, conf, iou, max_det, multi_label, agnostic, classes)
            )
        return results

    def predict(self, source: Any, **kwargs: Any) -> Any:
        """Detect objects in source (file, folder, glob, list, array, PIL image, video).

        Returns a list of Results, or a generator of them with stream=True (use it for videos).
        Keyword arguments: conf, iou, imgsz, max_det, agnostic, classes, batch, rgb, half, stream.
        """
        from ..engine.predictor import predict

        return predict(self, source, **kwargs)

    def deploy(self) -> Detector:
        """Prepare for inference, in place; returns self in eval mode.

        Fuses Conv+BN everywhere and stores the weights channels-last (NHWC), which oneDNN and
        cuDNN run faster (about 20% on CPU); the outputs are unchanged. A deployed model is
        returned as it is.
        """
        if self.deployed:
            return self.eval()
        fuse_model(self)
        self.to(memory_format=torch.channels_last)
        self.deployed = True
        return self.eval()

    def export(self, format: str = "onnx", **kwargs: Any) -> Any:
        """Export to format (onnx, openvino, torchscript, engine) and check the file against
        PyTorch; returns the path. Keyword arguments: see yoloarena.export.export_model."""
        from ..export import export_model

        return export_model(self, format, **kwargs).path

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def metadata(self) -> dict[str, Any]:
        """What an exported file or a checkpoint needs to rebuild the pre/post-processing."""
        return {
            "model_name": self.model_name,
            "family": self.family,
            "num_classes": self.num_classes,
            "names": dict(self.names),
            "stride": list(self.stride),
            "imgsz": self.imgsz,
            "preprocess": vars(self.preprocess).copy(),
        }


def normalize_names(names: dict | Sequence[str] | None, num_classes: int) -> dict[int, str]:
    """Class names as {index: name}; missing names become 'class<i>'."""
    if names is None:
        names = {}
    elif not isinstance(names, dict):
        names = dict(enumerate(names))
    out = {int(k): str(v) for k, v in names.items()}
    return {i: out.get(i, f"class{i}") for i in range(num_classes)}
