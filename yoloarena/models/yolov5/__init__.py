"""YOLOv5 v7.0 family: models, head and official checkpoint reading."""

from . import checkpoint, variants  # noqa: F401  (register the models and the checkpoint reader)
from .model import YOLOv5, YOLOv5Scale

__all__ = ["YOLOv5", "YOLOv5Scale"]
