"""DAMO-YOLO family: TinyNAS backbones, RepGFPN neck, ZeroHead, official checkpoint reading."""

from . import checkpoint, variants  # noqa: F401  (register the models and the reader)
from .model import DamoVariant, DamoYolo

__all__ = ["DamoVariant", "DamoYolo"]
