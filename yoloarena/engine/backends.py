"""``backend=``: what runs the network in predict, val and the hub call.

- ``""`` (the default): the model as loaded: PyTorch for weights, its own runtime for an
  exported file.
- ``torch``: the PyTorch module.
- ``onnx`` / ``openvino``: the model exported once to the cache (see export_cache: dynamic input,
  so letterbox families keep PyTorch's per-image rectangles and give the same detections within
  the export tolerance), run by ONNX Runtime or OpenVINO (FP32).
- ``auto``: the fastest of torch, onnx and openvino for this model on this machine, measured
  once when the cache entry is built and stored in it.

``auto`` runs PyTorch (and says why) where an export cannot stand in: weights that do not come
from a file (a registered name or a structure file: random weights, nothing worth caching), a
CUDA device, half precision on CUDA, test-time augmentation, or a model other than a detector.
An exported file (``yoloarena.load("x.onnx")``) runs in its own runtime whatever the backend is
``auto`` or its own format.
"""

from __future__ import annotations

import copy
import logging
import weakref
from typing import Any

from .. import threads
from ..errors import YoloArenaError
from ..models.base import Detector, as_module

LOGGER = logging.getLogger("yoloarena")
BACKENDS = ("torch", "auto", "onnx", "openvino")
_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def check_backend(value: str | None) -> str:
    """The backend name, lower case ("" for the model as loaded); a clear error for any other
    value (a config `check`)."""
    name = str(value or "").strip().lower()
    if name and name not in BACKENDS:
        raise YoloArenaError(f"backend={value} is not one of {', '.join(BACKENDS)}")
    return name


def resolve_backend(
    model: Any, backend: str | None = None, imgsz: int | None = None, *, half: bool = False,
    augment: bool = False,
) -> Detector:  # fmt: skip
    """The network that runs `model` with `backend` (see the module docstring); imgsz: the
    inference size (it keys the cache entry)."""
    from ..export.runtime import RuntimeDetector

    net = as_module(model)
    backend = check_backend(backend)
    if not backend:
        return net
    if isinstance(net, RuntimeDetector):
        if backend in ("auto", net.backend):
            return net
        raise YoloArenaError(
            f"'{net.source}' is an exported {net.backend} file: it runs with backend=auto or "
            f"backend={net.backend}; for backend={backend} give the weights file (.pt/.pth)"
        )
    if backend == "torch":
        return net
    why = torch_only(net, half, augment, forced=backend != "auto")
    if why:
        if backend != "auto":
            raise YoloArenaError(f"backend={backend}: {why}; use backend=torch")
        LOGGER.info("backend=auto runs PyTorch: %s", why)
        return net
    size = int(imgsz or net.imgsz)
    memo = _MEMO.setdefault(net, {})
    stamp = fingerprint(net)
    hit = memo.get((backend, size))
    if hit is not None and hit[0] == stamp:
        _match_policy(hit[1])
        return hit[1]
    chosen = _run(net, backend, size)
    memo[(backend, size)] = (stamp, chosen)
    return chosen


def torch_only(net: Any, half: bool, augment: bool, forced: bool) -> str | None:
    """Why this network must run in PyTorch, or None."""
    if not isinstance(net, Detector) or net.task != "detect":
        return f"exported runtimes serve detectors only, not a {net.task or 'plain'} model"
    if net.device.type != "cpu":
        return f"the exported runtimes run on the CPU; the model is on {net.device}"
    if augment:
        return "test-time augmentation (augment=True) needs the PyTorch module"
    if half:
        return "half=True is PyTorch autocast"
    if not forced and not getattr(net, "weights_info", {}).get("path"):
        return "the weights do not come from a file (random weights): nothing is exported"
    return None


def fingerprint(net: Detector) -> tuple:
    """Changes when any parameter or buffer is replaced or modified in place."""
    return tuple((t.data_ptr(), t._version) for t in (*net.parameters(), *net.buffers()))


def deployed(net: Detector) -> Detector:
    """net itself when deployed, else a deployed copy (the caller's module is not changed)."""
    return net if net.deployed else copy.deepcopy(net).deploy()


def _run(net: Detector, backend: str, imgsz: int) -> Detector:
    from ..export.runtime import load_exported
    from .export_cache import get_entry

    dep = deployed(net)
    try:
        entry = get_entry(dep, imgsz)
    except YoloArenaError as e:
        if backend != "auto":
            raise
        LOGGER.warning("backend=auto runs PyTorch: %s", e)
        return dep
    name = entry.choice if backend == "auto" else backend
    if name not in entry.available():
        why = entry.info.get("failed", {}).get(name, "not exported")
        raise YoloArenaError(f"backend={name} is not available for this model: {why}")
    if name == "torch":
        return dep
    runtime = load_exported(entry.path(name))
    runtime.cache_entry = str(entry.folder)
    runtime.session_policy = _policy_key()
    return runtime


def _policy_key() -> tuple[int, bool]:
    p = threads.current()
    return p.threads, p.spin


def follow_policy(model: Detector, watch: threads.Watch) -> None:
    """During a long run: once the thread policy has changed and held for two load checks,
    rebuild the ONNX Runtime / OpenVINO session of a runtime from the cache (their thread pools
    are fixed when a session is made; PyTorch follows at once)."""
    if watch.steady >= 2:
        _match_policy(model)


def _match_policy(model: Detector) -> None:
    """Rebuild a cached runtime's session when it was made under another thread policy."""
    old = getattr(model, "session_policy", None)
    if old is None or _policy_key() == old:
        return
    from pathlib import Path

    session = model.session
    model.session = type(session)(Path(model.source), session.device)
    model.session_policy = _policy_key()
    LOGGER.info("%s session rebuilt: %s", model.backend, threads.current().describe())
