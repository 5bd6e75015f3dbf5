"""DAMO-YOLO family: TinyNAS backbones, RepGFPN neck, ZeroHead, official checkpoint reading."""

from . import checkpoint, recipe, variants  # noqa: F401  (models, reader, hyp presets)
from .model import DamoVariant, DamoYolo

__all__ = ["DamoVariant", "DamoYolo"]
