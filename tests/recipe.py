"""The parity weight recipe `yoloarena-parity-v1` (shared/reference/FIXTURES.md), and input."""

from __future__ import annotations

import math
import zlib

import torch

from yoloarena.models.base import HeadOutput
from yoloarena.ops import xyxy_to_cxcywh

KEEP = {"head.integral.project", "model.24.anchors"}


def recipe_tensor(
    key: str, shape: tuple[int, ...], all_keys: set[str], bn_log2: dict
) -> torch.Tensor:
    prefix, _, leaf = key.rpartition(".")
    if leaf == "num_batches_tracked":
        return torch.zeros((), dtype=torch.int64)
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    u = torch.rand(shape, generator=g, dtype=torch.float32)
    k = bn_log2.get(prefix, 0)
    if leaf == "running_var":
        return (0.5 + u) * 4.0**k
    if leaf == "running_mean":
        return (0.2 * (2 * u - 1)) * 2.0**k
    if len(shape) >= 2:
        return (2 * u - 1) * math.sqrt(3.0 / math.prod(shape[1:]))
    if leaf == "weight" and prefix + ".running_var" in all_keys:
        return 0.5 + u
    if leaf == "bias":
        return 0.2 * (2 * u - 1)
    if len(shape) == 0:
        return 0.5 + u
    raise KeyError(key)


def recipe_state_dict(fx: dict) -> dict[str, torch.Tensor]:
    shapes = [(k, tuple(s)) for k, s in fx["state_dict_shapes"]]
    all_keys = {k for k, _ in shapes}
    return {k: recipe_tensor(k, s, all_keys, fx["bn_log2"]) for k, s in shapes if k not in KEEP}


def fixture_input(fx: dict) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.rand(1, 3, *fx["input_size"])
    if fx["family"] == "damoyolo":
        x = x * 255
    assert torch.equal(x.flatten()[:8], fx["input_check"]["first8"])
    assert x.double().sum().item() == fx["input_check"]["sum_float64"]
    return x


def official_pred(out: HeadOutput) -> torch.Tensor:
    """Our decoded output in the official layout: cx, cy, w, h, obj, class probabilities."""
    return torch.cat([xyxy_to_cxcywh(out.boxes), out.objectness[..., None], out.scores], -1)
