"""The model contracts: a small `Model` base, `Detector` (detect, segment) and `Classifier` on it.

Every model is a plain ``nn.Module`` with a ``task`` (``detect``, ``segment``, ``classify``), class
names, and its own preprocessing (``transform``). The Detector contract, the same for every family:

- ``forward(images) -> HeadOutput``: raw per-level maps, plus decoded boxes/scores in eval mode.
- ``forward_augment(images) -> HeadOutput``: test-time augmentation (eval mode): decoded rows of
  several scaled and mirrored passes, merged, ready for postprocess (``levels`` empty).
- ``criterion(output, targets) -> dict[str, Tensor]`` (losses with a ``total``).
- ``postprocess(output, ...) -> list[(boxes, scores, labels)]``: decode + NMS, input pixels.
- ``predict(images, ...) -> list[Results]`` on in-memory images: transform, forward, postprocess,
  map back to the original pixels.
- segmenters (``task == "segment"``) also: ``postprocess_segments(output, ...) ->
  list[SegDetections]`` (NMS keeping each detection's mask coefficients), and their Results carry
  ``masks`` (see models/segmenter.py).
- ``deploy()``: fuse Conv+BN (and re-parameterise) for inference and export.

Files, folders, videos, validation, training and export need the engine: they live on the facade
that ``yoloarena.load()`` returns (``yoloarena.api.ArenaModel``), never on the module.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.sources import is_pil, iter_frames
from ..errors import YoloArenaError
from ..nn.fuse import fuse_model
from ..ops.nms import multiclass_nms
from ..structures import Results
from .classify_transform import ClassifyTransform
from .segmenter import SegDetections, postprocess_segments, segment_results
from .transform import DetectTransform


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


class Model(nn.Module):
    """What every model has, whatever its task: class names, its transform, deploy, metadata."""

    task: ClassVar[str] = ""  # "detect", "segment" or "classify"
    family: ClassVar[str] = ""
    default_hyp: str | None = None  # the family's training preset for this model (None: default)

    def __init__(
        self,
        num_classes: int,
        names: dict[int, str] | Sequence[str] | None,
        transform: Any,
        imgsz: int,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.names = normalize_names(names, self.num_classes)
        self.transform = transform
        self.imgsz = imgsz
        self.model_name = ""
        self.deployed = False

    def deploy(self) -> Model:
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

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def run_prepared(
        self, x: torch.Tensor, half: bool = False, augment: bool = False
    ) -> tuple[Any, tuple[int, int], float, float]:
        """The network on a batch that ``transform.prepare`` made: eval mode, normalize on the
        model's device, forward (autocast for half on CUDA; augment: forward_augment).
        Returns (output, input (h, w), normalize ms, forward ms)."""
        if self.training:
            self.eval()
        device = self.device
        t0 = time.perf_counter()
        x = self.transform.normalize(x.to(device))
        t1 = time.perf_counter()
        with torch.autocast(device.type, enabled=half and device.type == "cuda"):
            out = self.forward_augment(x) if augment else self(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        shape = (int(x.shape[2]), int(x.shape[3]))
        return out, shape, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3

    def metadata(self) -> dict[str, Any]:
        """What an exported file or a checkpoint needs to rebuild the pre/post-processing."""
        return {
            "model_name": self.model_name,
            "family": self.family,
            "task": self.task,
            "num_classes": self.num_classes,
            "names": dict(self.names),
            "imgsz": self.imgsz,
            "preprocess": self.transform.to_meta(),
        }


class Detector(Model):
    """Base class of every detector (and segmenter); subclasses build layers and forward."""

    task: ClassVar[str] = "detect"
    has_objectness: ClassVar[bool] = False  # decoded outputs include an objectness branch
    predict_defaults: ClassVar[PostprocessDefaults] = PostprocessDefaults()
    eval_protocol: ClassVar[EvalProtocol] = EvalProtocol()

    def __init__(
        self,
        num_classes: int,
        stride: Sequence[int],
        names: dict[int, str] | Sequence[str] | None = None,
        transform: DetectTransform | None = None,
        imgsz: int = 640,
    ) -> None:
        stride = tuple(int(s) for s in stride)
        transform = dataclasses.replace(transform or DetectTransform(), stride=max(stride),
                                        imgsz=imgsz)  # fmt: skip
        super().__init__(num_classes, names, transform, imgsz)
        self.stride = stride

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

    def forward_augment(self, images: torch.Tensor) -> HeadOutput:
        """Decoded output of test-time augmentation (see models/augment.py); families that
        support it override this."""
        raise YoloArenaError(
            f"test-time augmentation (augment=True) is not available for {self.family or 'this'} "
            f"model ({type(self).__name__})"
        )

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

    def postprocess_segments(
        self,
        output: HeadOutput,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        multi_label: bool = False,
        agnostic: bool = False,
        classes: Sequence[int] | None = None,
    ) -> list[SegDetections]:
        """Segmenters: per image the detections after NMS with their mask coefficients and the
        image's prototypes (see models/segmenter.py)."""
        return postprocess_segments(output, conf, iou, max_det, multi_label, agnostic, classes)

    def settings(self, **given: Any) -> dict[str, Any]:
        """postprocess keyword arguments: the given ones, the family's defaults for the rest."""
        d = self.predict_defaults
        out = {"conf": d.conf, "iou": d.iou, "max_det": d.max_det, "multi_label": False,
               "agnostic": False, "classes": None}  # fmt: skip
        out.update({k: v for k, v in given.items() if v is not None and k in out})
        return out

    @torch.inference_mode()
    def predict(
        self,
        images: Any,
        imgsz: int | None = None,
        rgb: bool = False,
        half: bool = False,
        augment: bool = False,
        shape: tuple[int, int] | None = None,
        retina_masks: bool = False,
        **settings: Any,
    ) -> list[Results]:
        """Detect objects in in-memory images: one or a list of numpy arrays (HWC, BGR as OpenCV
        gives them; rgb=True for RGB) or PIL images. Keyword arguments go to postprocess (conf,
        iou, max_det, multi_label, agnostic, classes; unset ones take the family's defaults).
        augment=True runs test-time augmentation (forward_augment); shape (h, w) fixes the input
        shape of the batch instead of the transform's own rule (the hub call's shared shape).

        For files, folders, globs, URLs and videos use ``yoloarena.load(...).predict(source)``.
        Each Results carries the per-image time of each stage in ``speed`` (ms).
        """
        arrays = as_bgr_list(images, rgb)
        t0 = time.perf_counter()
        x, infos = self.transform.prepare(arrays, imgsz or self.imgsz, shape=shape)
        pre_ms = (time.perf_counter() - t0) * 1e3
        return self.predict_batch(arrays, x, infos, half, augment, pre_ms, retina_masks, **settings)

    @torch.inference_mode()
    def predict_batch(
        self,
        arrays: Sequence[np.ndarray],
        x: torch.Tensor,
        infos: Sequence[Any],
        half: bool = False,
        augment: bool = False,
        pre_ms: float = 0.0,
        retina_masks: bool = False,
        **settings: Any,
    ) -> list[Results]:
        """The rest of predict on a batch that ``transform.prepare`` made from arrays (a uint8
        NCHW tensor and the resize infos): normalize, forward, postprocess, map back. pre_ms: the
        time prepare took (counted as preprocessing)."""
        out, _, norm_ms, infer_ms = self.run_prepared(x, half, augment)
        t2 = time.perf_counter()
        if self.task == "segment":
            segs = self.postprocess_segments(out, **self.settings(**settings))
            results = segment_results(self, segs, arrays, infos, retina_masks)
        else:
            results = []
            dets = self.postprocess(out, **self.settings(**settings))
            for im, info, (boxes, scores, labels) in zip(arrays, infos, dets, strict=True):
                boxes = self.transform.map_back(boxes, info, im.shape[:2])
                results.append(Results(boxes, scores, labels, self.names, im.shape[:2],
                                       orig_img=im))  # fmt: skip
        post_ms = (time.perf_counter() - t2) * 1e3
        speed = stage_speed(len(arrays), pre_ms + norm_ms, infer_ms, post_ms)
        for r in results:
            r.speed = dict(speed)
        return results

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "stride": list(self.stride)}


class Classifier(Model):
    """Base class of image classifiers; subclasses build layers and forward.

    Contract: ``forward(images) -> logits [B, C]``; ``criterion(logits, labels)`` -> losses with
    a ``total`` (cross-entropy, label smoothing from the training hyperparameters);
    ``postprocess(logits) -> probabilities [B, C]``; ``predict(images)`` on in-memory images
    (transform, forward, softmax -> Results with ``probs``); ``deploy()``.
    """

    task: ClassVar[str] = "classify"
    default_hyp: str | None = "classify"
    outputs_probabilities: ClassVar[bool] = False  # True for exported files (softmax inside)

    def __init__(
        self,
        num_classes: int,
        names: dict[int, str] | Sequence[str] | None = None,
        transform: ClassifyTransform | None = None,
        imgsz: int = 224,
        stride: int = 32,
    ) -> None:
        transform = dataclasses.replace(transform or ClassifyTransform(), imgsz=imgsz,
                                        stride=stride)  # fmt: skip
        super().__init__(num_classes, names, transform, imgsz)
        self.stride = (int(stride),)
        self.label_smoothing = 0.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def configure_criterion(self, hyp: Any, imgsz: int) -> None:
        """Set up the loss for training (label smoothing from hyp)."""
        self.label_smoothing = float(getattr(hyp, "label_smoothing", 0.0))

    def criterion(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy with label smoothing, the batch mean; 'loss' is a detached copy."""
        ce = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        return {"total": ce, "loss": ce.detach()}

    def postprocess(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities [B, C]."""
        if self.outputs_probabilities:
            return logits.float()
        return logits.float().softmax(-1)

    @torch.inference_mode()
    def predict(
        self,
        images: Any,
        imgsz: int | None = None,
        rgb: bool = False,
        half: bool = False,
        **settings: Any,
    ) -> list[Results]:
        """Classify in-memory images: one or a list of numpy arrays (HWC, BGR as OpenCV gives
        them; rgb=True for RGB) or PIL images. Detection settings (conf, iou, ...) are accepted
        and ignored, so one call works for every task.

        Each Results carries ``probs`` (top1, top5, their confidences) and per-stage ``speed``.
        """
        arrays = as_bgr_list(images, rgb)
        t0 = time.perf_counter()
        x, infos = self.transform.prepare(arrays, imgsz or self.imgsz)
        pre_ms = (time.perf_counter() - t0) * 1e3
        return self.predict_batch(arrays, x, infos, half, pre_ms=pre_ms)

    @torch.inference_mode()
    def predict_batch(
        self,
        arrays: Sequence[np.ndarray],
        x: torch.Tensor,
        infos: Sequence[Any],
        half: bool = False,
        pre_ms: float = 0.0,
        **settings: Any,
    ) -> list[Results]:
        """The rest of predict on a uint8 batch that ``transform.prepare`` made from arrays:
        normalize, forward, softmax. pre_ms: the time prepare took (counted as preprocessing);
        detection settings are accepted and ignored."""
        logits, size, norm_ms, infer_ms = self.run_prepared(x, half)
        t2 = time.perf_counter()
        probs = self.postprocess(logits).cpu()
        post_ms = (time.perf_counter() - t2) * 1e3
        speed = stage_speed(len(arrays), pre_ms + norm_ms, infer_ms, post_ms)
        empty = torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long)
        out = []
        for im, p in zip(arrays, probs, strict=True):
            out.append(Results(*empty, self.names, im.shape[:2], orig_img=im, speed=speed,
                               probs=p, input_shape=size))  # fmt: skip
        return out

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "stride": list(self.stride)}


def stage_speed(n: int, pre_ms: float, infer_ms: float, post_ms: float) -> dict[str, float]:
    """Results.speed: each stage's time of a batch of n images, per image (ms)."""
    return {"preprocess": pre_ms / n, "inference": infer_ms / n, "postprocess": post_ms / n}


def as_module(model: Any) -> Model:
    """The network behind a facade returned by ``yoloarena.load`` (or the module itself)."""
    if isinstance(model, nn.Module):
        return model  # type: ignore[return-value]
    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module):
        return inner  # type: ignore[return-value]
    raise TypeError(f"expected a yoloarena model, got {type(model).__name__}")


def as_bgr_list(images: Any, rgb: bool = False) -> list[np.ndarray]:
    """One or a list of numpy arrays / PIL images -> BGR HWC uint8 arrays (PIL: EXIF applied)."""
    items = list(images) if isinstance(images, list | tuple) else [images]
    for im in items:
        if not isinstance(im, np.ndarray) and not is_pil(im):
            raise TypeError(
                f"predict on the module takes numpy arrays or PIL images, not "
                f"{type(im).__name__}; use yoloarena.load(...).predict(source) for files"
            )
    return [f.image for f in iter_frames(items, rgb=rgb)]


def normalize_names(names: dict | Sequence[str] | None, num_classes: int) -> dict[int, str]:
    """Class names as {index: name}; missing names become 'class<i>'."""
    if names is None:
        names = {}
    elif not isinstance(names, dict):
        names = dict(enumerate(names))
    out = {int(k): str(v) for k, v in names.items()}
    return {i: out.get(i, f"class{i}") for i in range(num_classes)}
