"""What `yoloarena.load()` returns: a network with the toolkit's verbs on it.

The network itself (``.model``) stays a plain ``nn.Module`` with its own transform; the verbs that
need the engine or the exporters (predict on files and videos, val, train, export) live here, as
Ultralytics' ``YOLO`` class wraps its module. Any other attribute (``names``, ``stride``,
``num_classes``, ``transform``, ``state_dict()`` ...) is the network's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .models.base import Model
from .structures import Results


class ArenaModel:
    """A yoloarena model: ``model.predict(source)``, ``model.val(data=...)``,
    ``model.train(data=...)``, ``model.export(format=...)``; ``model.model`` is the network."""

    def __init__(self, model: Model, source: str | None = None) -> None:
        from .hub import default_settings

        self.__dict__["model"] = model
        self.__dict__["source"] = source or model.model_name
        # settings of model(images), as YOLOv5's AutoShape: conf, iou, agnostic, multi_label,
        # classes, max_det, amp (``model.conf = 0.5`` sets them; predict() takes its own)
        self.__dict__.update(default_settings(model))

    # --------------------------------------------------------------- the network's attributes
    def __getattr__(self, name: str) -> Any:
        model = self.__dict__.get("model")
        if model is None:  # during unpickling / copying, before __init__ ran
            raise AttributeError(name)
        return getattr(model, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__:
            self.__dict__[name] = value
        else:
            setattr(self.model, name, value)

    def __repr__(self) -> str:
        m = self.model
        return (f"ArenaModel({m.model_name or type(m).__name__}, task={m.task}, "
                f"family={m.family}, classes={m.num_classes}, source={self.source!r})")  # fmt: skip

    @property
    def task(self) -> str:
        return self.model.task

    def __call__(self, ims: Any, *args: Any, **kwargs: Any) -> Any:
        """The torch.hub call: ``model(ims, size=640, augment=False)`` on one or a list of paths,
        http(s) URLs, PIL images or numpy arrays (RGB; ``bgr=True`` for OpenCV arrays) returns a
        `Detections` (a list of Results with YOLOv5's print/show/save/crop/pandas ...), all images
        letterboxed to one shared shape as YOLOv5's AutoShape does; ``backend=auto`` (or onnx,
        openvino) runs it on an exported copy (see yoloarena.engine.backends). A torch tensor runs
        the raw forward pass (``augment=True``: the merged test-time-augmentation output)."""
        if isinstance(ims, torch.Tensor):
            if kwargs.pop("augment", False):
                return self.model.forward_augment(ims.to(self.model.device))
            return self.model(ims, *args, **kwargs)
        return self._call_images(ims, *args, **kwargs)

    def _call_images(self, ims: Any, *args: Any, **kwargs: Any) -> Any:
        """model(images) by task: detect and segment give Detections (see yoloarena.hub); a
        classifier (no AutoShape, as upstream) gives its Results with `probs`."""
        if self.model.task == "classify":
            size = kwargs.get("size", args[0] if args else None)
            return self.predict(ims, imgsz=size, rgb=not kwargs.get("bgr", False))
        from .hub import detect_images

        return detect_images(self, ims, *args, **kwargs)

    def to(self, device: str | torch.device) -> ArenaModel:
        from .loading import select_device

        self.model.to(select_device(device))
        return self

    def eval(self) -> ArenaModel:
        self.model.eval()
        return self

    def deploy(self) -> ArenaModel:
        """Fuse and re-parameterise the network for inference, in place (see Model.deploy)."""
        self.model.deploy()
        return self

    # --------------------------------------------------------------- the verbs
    def predict(self, source: Any, **kwargs: Any) -> list[Results] | Iterator[Results]:
        """Detect in a file, folder, glob, .txt list, video, array, PIL image or a list of them.

        Keyword arguments: conf, iou, imgsz, max_det, agnostic, classes, multi_label, batch, rgb,
        half, vid_stride, stream, backend (torch, onnx, openvino or auto: the fastest measured
        here, exported once to a cache; see yoloarena.engine.predictor.predict).
        """
        from .engine.predictor import predict

        return predict(self.model, source, **kwargs)

    def val(self, data: str | Path, **kwargs: Any) -> Any:
        """Validate on a dataset (yaml or COCO json) like `yoloarena val`; returns the ValResult
        (``.metrics.stats['AP']`` ...). Keyword arguments: the keys of `yoloarena val`
        (backend=auto: the fastest of torch, onnx and openvino, exported once to a cache)."""
        from .config import build_config
        from .engine.val_job import ValConfig, run_val

        cfg = build_config(ValConfig, {"model": self.source or "", "data": str(data), **kwargs})
        net = self.model if self.model.deployed else copy.deepcopy(self.model).deploy()
        _, result = run_val(cfg, model=net)
        return result

    def train(self, data: str | Path, **kwargs: Any) -> Path:
        """Train (or fine-tune) from this model's source like `yoloarena train`; the best weights
        replace the network. Returns the run folder. Keyword arguments: the keys of `yoloarena
        train`, hyperparameters included (lr0=..., mosaic=...)."""
        from .engine.train_job import parse_train_args, run_train
        from .loading import load_model

        if not self.source:
            raise ValueError("this model has no source (weights file or registered name) to train")
        args = {"model": str(self.source), "data": str(data), **kwargs}
        run = run_train(parse_train_args(args, None), given=set(args))
        best = Path(run) / "weights" / "best.pt"
        if best.is_file():
            self.__dict__["model"] = load_model(best, device=self.model.device)
            self.__dict__["source"] = str(best)
        return Path(run)

    def export(self, format: str = "onnx", **kwargs: Any) -> Path:
        """Export to format (onnx, openvino, torchscript, engine, ...) and check the file against
        PyTorch; returns its path. Keyword arguments: see yoloarena.export.export_model."""
        from .export import export_model

        return export_model(self.model, format, **kwargs).path
