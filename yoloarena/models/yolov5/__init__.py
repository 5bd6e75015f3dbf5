"""YOLOv5 v7.0 family: models, heads and official checkpoint reading."""

from . import checkpoint, classify, cls_checkpoint, recipe, variants  # noqa: F401  (registration)
from .classify import YOLOv5Classifier
from .model import YOLOv5, YOLOv5Scale

__all__ = ["YOLOv5", "YOLOv5Classifier", "YOLOv5Scale"]
