"""torchvision classifiers as yoloarena models: baselines for the classification task.

As upstream's classify/train.py allows (`--model resnet50`), a torchvision architecture trains
and validates through the same pipeline as the YOLOv5 and DAMO-YOLO classifiers. Built with random
weights (`weights=None`); a torchvision state dict saved on disk (`.pth`) loads through
`yoloarena.load(path)`. Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...data.imagenet_classes import imagenet_names
from ..base import Classifier
from ..classify_transform import ClassifyTransform

LOGGER = logging.getLogger("yoloarena")


class TorchvisionClassifier(Classifier):
    """A torchvision classification network under `model` (keys `model.<torchvision key>`)."""

    family = "torchvision"

    def __init__(
        self,
        arch: str,
        builder: Callable[..., nn.Module],
        num_classes: int = 1000,
        names: dict[int, str] | Sequence[str] | None = None,
        dropout: float | None = None,
    ) -> None:
        if names is None and num_classes == 1000:
            names = imagenet_names()
        super().__init__(num_classes, names, ClassifyTransform(), imgsz=224, stride=32)
        self.arch = arch
        kwargs = {"weights": None, "num_classes": num_classes}
        if dropout is not None and arch.startswith(("efficientnet", "mobilenet")):
            kwargs["dropout"] = dropout
        self.model = builder(**kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def deploy(self) -> TorchvisionClassifier:
        """Fold every Conv+BN pair (torch.fx), then store the weights channels-last."""
        if self.deployed:
            return self.eval()
        self.eval()
        from torch.fx.experimental.optimization import fuse

        try:
            self.model = fuse(self.model)
        except Exception as e:  # an architecture fx cannot trace: run it unfused
            LOGGER.warning("%s: Conv+BN folding skipped (%s)", self.arch, str(e).splitlines()[0])
        self.to(memory_format=torch.channels_last)
        self.deployed = True
        return self.eval()
