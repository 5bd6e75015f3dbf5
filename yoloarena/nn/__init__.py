"""Layers shared by the model families, and Conv+BN fusion."""

from .blocks import C3, SPPF, Bottleneck, Concat, ConvBNAct, make_divisible, same_padding
from .fuse import count_batchnorms, fuse_conv_bn, fuse_model

__all__ = [
    "C3",
    "SPPF",
    "Bottleneck",
    "Concat",
    "ConvBNAct",
    "count_batchnorms",
    "fuse_conv_bn",
    "fuse_model",
    "make_divisible",
    "same_padding",
]
