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
from .writes import WriteError, write_failed

FORMAT = "yoloarena"
FORMAT_VERSION = 1
MAX_CLASSES = 100_000  # more than any detection or classification dataset (ImageNet-21k: 21841)


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
        return read_own(obj, path)
    for reader in _READERS:
        try:
            loaded = reader(obj, path)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RuntimeError) as e:
            # a file shaped like an official checkpoint but with fields of the wrong kind
            raise WeightsError(
                f"'{path}' cannot be read as a checkpoint ({type(e).__name__}: {str(e)[:120]})"
            ) from None
        if loaded is not None:
            return loaded
    raise WeightsError(
        f"'{path}' is not a checkpoint yoloarena recognises (expected a yoloarena, YOLOv5 "
        "v6.0+ or DAMO-YOLO file)"
    )


def check_num_classes(nc: Any, path: str | Path) -> int:
    """nc when it is a plausible class count (1..MAX_CLASSES), else WeightsError."""
    if isinstance(nc, bool) or not isinstance(nc, int) or not 1 <= nc <= MAX_CLASSES:
        raise WeightsError(
            f"'{path}' gives num_classes={str(nc)[:40]}; a model has 1 to {MAX_CLASSES} classes "
            "(the file is damaged or not a checkpoint for this model)"
        )
    return nc


def read_own(obj: dict, path: Path) -> LoadedWeights:
    """LoadedWeights of a yoloarena file, every field checked; the model it describes is
    built on the meta device (no memory) and must have exactly the file's tensor shapes."""

    def damaged(why: str) -> WeightsError:
        return WeightsError(f"'{path}' is a damaged yoloarena checkpoint ({why})")

    name, sd = obj.get("model_name"), obj.get("state_dict")
    if not isinstance(name, str) or not name:
        raise damaged("no model_name")
    if not isinstance(sd, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        raise damaged("its state_dict is not a dict of named tensors")
    nc = check_num_classes(obj.get("num_classes"), path)
    names = obj.get("names") or {}
    if not isinstance(names, dict) or not all(
        isinstance(k, int | str) and str(k).isdigit() and int(k) < nc and isinstance(v, str)
        for k, v in names.items()
    ):
        raise damaged(f"its names are not {{index: name}} for {nc} classes")
    kwargs = obj.get("build_kwargs") or {}
    if not isinstance(kwargs, dict) or not all(
        isinstance(k, str) and _primitive(v) for k, v in kwargs.items()
    ):
        raise damaged("its build_kwargs are not plain settings")
    loaded = LoadedWeights(
        model_name=name,
        state_dict=dict(sd),
        num_classes=nc,
        names={int(k): v for k, v in names.items()},
        build_kwargs=dict(kwargs),
        info={k: v for k, v in obj.items() if isinstance(k, str) and _primitive(v)},
    )
    check_shapes(loaded, path)
    return loaded


def _primitive(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def check_shapes(loaded: LoadedWeights, path: str | Path) -> None:
    """The model loaded describes, built on the meta device, has loaded's keys and shapes."""
    from .registry import build_model, get_entry

    get_entry(loaded.model_name)  # an unknown name gets the usual message
    try:
        with torch.device("meta"):
            probe = build_model(loaded.model_name, num_classes=loaded.num_classes,
                                names=loaded.names or None, **loaded.build_kwargs)  # fmt: skip
            if loaded.info.get("deployed"):
                probe.deploy()
    except (TypeError, ValueError, KeyError) as e:
        raise WeightsError(f"'{path}' describes a model that cannot be built ({e})") from None
    shapes = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if problems := fit_problems(shapes, loaded.state_dict):
        raise WeightsError(f"weights in '{path}' do not fit the model: {problems}")


def float_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float32 (official files store float16), others unchanged."""
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def fit_problems(own: dict[str, tuple[int, ...]], sd: dict[str, torch.Tensor]) -> str:
    """'' when sd has exactly the keys and shapes of own; else the missing, unexpected and
    mis-shaped keys (the first 8 of each)."""
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {_shape(sd[k])} != {own[k]}" for k in own if k in sd and _shape(sd[k]) != own[k]
    ]
    parts = []
    for title, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if keys:
            more = f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
            parts.append(f"{title} {len(keys)}: {', '.join(keys[:8])}{more}")
    return "; ".join(parts)


def _shape(v: Any) -> tuple[int, ...] | str:
    return tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__


def load_into(model: nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict(strict) with an error that lists missing, unexpected and mis-shaped keys."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if problems := fit_problems(own, sd):
        raise WeightsError(f"weights in '{source}' do not fit the model: {problems}")
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
        "build_kwargs": meta.get("build_kwargs") or {},
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    return atomic_save(obj, path)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename over path: path holds the
    old file or the new one, never a partial one. A failed write (e.g. a full disk) raises
    WriteError naming path, with the old file kept and the temporary file removed."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise write_failed(path, e) from None
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
