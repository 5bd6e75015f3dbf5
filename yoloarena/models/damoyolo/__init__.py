"""DAMO-YOLO family: TinyNAS backbones, RepGFPN neck, ZeroHead, official checkpoint reading."""

from . import checkpoint, classify, recipe, variants  # noqa: F401  (models, reader, hyp presets)
from .classify import DamoClassifier
from .model import DamoVariant, DamoYolo

__all__ = ["DamoClassifier", "DamoVariant", "DamoYolo"]
