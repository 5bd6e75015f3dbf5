"""torchvision classifiers (resnet18, efficientnet_b0, ...) registered as baselines."""

from . import variants  # noqa: F401  (register models, reader, hyp preset)
from .model import TorchvisionClassifier

__all__ = ["TorchvisionClassifier"]
