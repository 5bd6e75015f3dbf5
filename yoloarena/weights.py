"""Weights files: reading any supported checkpoint into a state_dict, and writing our own.

Our own files are plain dicts of tensors and primitives (they load with weights_only=True):
{"format": "yoloarena", "version": 1, "model_name", "num_classes", "names", "state_dict", ...}.
Official checkpoints of a family are recognised by readers that the family registers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import WeightsError
from .safe_pickle import safe_load

FORMAT = "yoloarena"
FORMAT_VERSION = 1


@dataclass
class LoadedWeights:
    """A checkpoint reduced to what it takes to rebuild the model."""

    model_name: str
    state_dict: dict[str, torch.Tensor]
    num_classes: int
    names: dict[int, str] | None = None
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


Reader = Callable[[Any, Path], "LoadedWeights | None"]
_READERS: list[Reader] = []


def register_checkpoint_reader(reader: Reader) -> Reader:
    """Register fn(obj, path) -> LoadedWeights | None for a family's official files."""
    if reader not in _READERS:
        _READERS.append(reader)
    return reader


def read_weights(path: str | Path) -> LoadedWeights:
    """Read a weights file of any supported kind (never executes code from it)."""
    from .registry import list_models

    list_models()  # import the families so that their readers are registered
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file '{path}' not found")
    if path.stat().st_size == 0:
        raise WeightsError(f"weights file '{path}' is empty (0 bytes); download or copy it again")
    obj = safe_load(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _read_own(obj, path)
    for reader in _READERS:
        loaded = reader(obj, path)
        if loaded is not None:
            return loaded
    raise WeightsError(
        f"'{path}' is not a checkpoint yoloarena recognises (expected a yoloarena, YOLOv5 "
        "v6.0+ or DAMO-YOLO file)"
    )


def _read_own(obj: dict, path: Path) -> LoadedWeights:
    try:
        return LoadedWeights(
            model_name=str(obj["model_name"]),
            state_dict=dict(obj["state_dict"]),
            num_classes=int(obj["num_classes"]),
            names={int(k): str(v) for k, v in (obj.get("names") or {}).items()},
            build_kwargs=dict(obj.get("build_kwargs") or {}),
            info={k: v for k, v in obj.items() if k not in ("state_dict",)},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"'{path}' is a damaged yoloarena checkpoint (missing {e})") from None


def float_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float32 (official files store float16), others unchanged."""
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def load_into(model: nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict(strict) with an error that lists missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {tuple(sd[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for title, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", shapes),
        ):
            if keys:
                more = f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
                parts.append(f"{title} {len(keys)}: {', '.join(keys[:8])}{more}")
        raise WeightsError(f"weights in '{source}' do not fit the model: " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)


def save_weights(model: nn.Module, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write model weights in our format, atomically (temp file + rename)."""
    meta = model.metadata() if hasattr(model, "metadata") else {}
    obj = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model_name": meta.get("model_name") or getattr(model, "model_name", ""),
        "num_classes": meta.get("num_classes"),
        "names": meta.get("names"),
        "build_kwargs": {},
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    return atomic_save(obj, path)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class TransferReport:
    """What init_from_state_dict took from a state_dict of another model."""

    loaded: list[str]  # keys copied (same name and shape)
    skipped: list[str]  # same name, different shape (e.g. a head with other outputs)
    unexpected: list[str]  # in the file, not in the model
    missing: list[str]  # in the model, not in the file (they keep their initialisation)

    def summary(self) -> str:
        lines = [
            f"{len(self.loaded)} tensors loaded, {len(self.skipped)} skipped (shape differs), "
            f"{len(self.missing)} not in the weights (kept as initialised), "
            f"{len(self.unexpected)} not used"
        ]
        for title, keys in (("skipped", self.skipped), ("not in the weights", self.missing),
                            ("not used", self.unexpected)):  # fmt: skip
            if keys:
                lines.append(f"  {title}: {', '.join(keys)}")
        return "\n".join(lines)


@torch.no_grad()
def init_from_state_dict(model: nn.Module, sd: dict[str, torch.Tensor]) -> TransferReport:
    """Copy the tensors of sd whose name and shape fit model (fine-tuning from another model,
    e.g. a segmentation model from detection weights); returns what was taken and what not."""
    own = model.state_dict()
    fits = {k: v for k, v in sd.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    model.load_state_dict(fits, strict=False)
    return TransferReport(
        loaded=[k for k in own if k in fits],
        skipped=[k for k in sd if k in own and k not in fits],
        unexpected=[k for k in sd if k not in own],
        missing=[k for k in own if k not in sd],
    )


def init_from(model: nn.Module, path: str | Path) -> TransferReport:
    """init_from_state_dict with the weights of any supported checkpoint file."""
    return init_from_state_dict(model, read_weights(path).state_dict)
