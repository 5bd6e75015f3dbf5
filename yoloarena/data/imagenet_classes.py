"""The 1000 ImageNet-1k class names, in index order (from torchvision's weight metadata, which
ships with the package: nothing is downloaded)."""

from __future__ import annotations

import functools


@functools.cache
def imagenet_names() -> dict[int, str]:
    from torchvision.models import ResNet18_Weights

    return dict(enumerate(ResNet18_Weights.IMAGENET1K_V1.meta["categories"]))
