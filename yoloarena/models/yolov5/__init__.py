"""YOLOv5 v7.0 family: models, head and official checkpoint reading."""

from . import checkpoint, recipe, variants  # noqa: F401  (register models, reader, hyp presets)
from .model import YOLOv5, YOLOv5Scale

__all__ = ["YOLOv5", "YOLOv5Scale"]
