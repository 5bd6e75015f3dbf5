"""Training checkpoints: our weights format plus everything needed to resume exactly.

`state_dict` holds the EMA weights (what inference and `yoloarena.load` use); `train` holds the
raw model, the EMA counter, the optimiser, the epoch, the best fitness, the config, the hyp and the
RNG states. Everything is tensors and primitives, so the file loads with weights_only=True, and it
is written to a temporary file first and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError
from ..safe_pickle import load_plain
from ..weights import FORMAT, FORMAT_VERSION, atomic_save, fit_problems, read_own


def rng_state() -> dict[str, Any]:
    _, keys, pos, _, _ = np.random.get_state()
    return {
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), None))
    keys = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])


def save_checkpoint(path: Path, model, ema, optimizer, **state: Any) -> Path:
    """Write checkpoint_dict(...) to path atomically (temp file + rename)."""
    return atomic_save(checkpoint_dict(model, ema, optimizer, **state), path)


def checkpoint_dict(
    model, ema, optimizer, *, epoch: int, best_fitness: float, finished: bool,
    config: dict, hyp: dict, extra: dict | None = None,
) -> dict:  # fmt: skip
    """Weights (EMA) and the whole training state, as tensors and primitives."""
    meta = model.metadata()
    obj = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model_name": meta["model_name"],
        "num_classes": meta["num_classes"],
        "names": meta["names"],
        "build_kwargs": meta.get("build_kwargs") or {},  # e.g. a searched structure
        "state_dict": {k: v.detach().clone() for k, v in ema.ema.state_dict().items()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "epoch": epoch,
        "train": {
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "ema_updates": ema.updates,
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,  # last completed epoch (0-based)
            "best_fitness": float(best_fitness),
            "finished": finished,
            "config": config,
            "hyp": hyp,
            "rng": rng_state(),
            **(extra or {}),
        },
    }
    return obj


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict:
    """A training checkpoint written by save_checkpoint (weights_only, never runs code).
    mmap=True maps the tensors instead of reading them (to look at the state cheaply)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint '{path}' not found")
    obj = load_plain(path, mmap=mmap)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "train" not in obj:
        raise WeightsError(f"'{path}' holds weights only (no training state); it cannot be resumed")
    train = obj["train"]
    if not isinstance(train, dict) or not isinstance(train.get("finished"), bool):
        raise WeightsError(f"'{path}' has a damaged training state; train from its weights "
                           f"instead (model={path})")  # fmt: skip
    if not mmap:  # resuming: the whole state must fit the model it describes
        loaded = read_own(obj, path)
        raw = train.get("model")
        if not isinstance(raw, dict) or fit_problems(
            {k: tuple(v.shape) for k, v in loaded.state_dict.items()}, raw
        ):
            raise WeightsError(f"'{path}': its training weights do not match its weights; "
                               f"train from its weights instead (model={path})")  # fmt: skip
    return obj
