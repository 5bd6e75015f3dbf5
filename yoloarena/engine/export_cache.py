"""The export cache behind ``backend=auto``: a model exported once per weights, size and library
versions, checked against PyTorch, and timed on this machine.

An entry is a folder ``<cache>/exports/<model>-<key>/`` (``<cache>``: $YOLOARENA_CACHE_DIR, else
~/.cache/yoloarena) with ``model.onnx``, ``openvino/`` (an FP32 IR) and ``entry.json``: the key
fields, each export's parity against PyTorch, the measured latency of every backend and the
choice. The key hashes the deployed network's weights (content, not file name), its metadata
(names, preprocessing, stride), the input size, the input policy (dynamic batch, height and
width: letterbox families keep their per-image rectangles, as PyTorch predict and val do), the
precision (fp32), the versions of yoloarena, torch, onnx, onnxruntime and openvino, and the
sources that define the exported graph (models/, nn/, ops/, export/); any change
makes a new entry, and the entry built before it for the same weights file and size is removed.
Entries are built in a temporary folder and renamed into place, so a crash leaves no half entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .. import threads
from ..bench.environment import load_note
from ..errors import YoloArenaError
from ..models.base import Detector

LOGGER = logging.getLogger("yoloarena")
FORMAT_VERSION = 1
EXPORTED = ("onnx", "openvino")  # the runtimes an entry holds, besides PyTorch itself
_FILES = {"onnx": "model.onnx", "openvino": "openvino"}
_RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}
builds = {"count": 0}  # entries built by this process (tests read it; a reuse does not count)


@dataclass
class Entry:
    folder: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def choice(self) -> str:
        return self.info["choice"]

    def available(self) -> list[str]:
        return ["torch", *self.info.get("parity", {})]

    def path(self, backend: str) -> Path:
        return self.folder / _FILES[backend]


def cache_root() -> Path:
    base = os.environ.get("YOLOARENA_CACHE_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "yoloarena") / "exports"


def weights_hash(net: torch.nn.Module) -> str:
    """sha256 of every tensor of the state dict (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def code_hash() -> str:
    """sha256 of the package's sources that define an exported graph (models, nn, export), so
    that a changed yoloarena between two versions does not reuse an export of the old code."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for folder in ("models", "nn", "export", "ops"):
        for f in sorted((root / folder).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def key_fields(net: Detector, imgsz: int) -> dict[str, Any]:
    from .. import __version__

    return {
        "format_version": FORMAT_VERSION,
        "weights_sha256": weights_hash(net),
        "code_sha256": code_hash(),
        "metadata": json.loads(json.dumps(net.metadata(), default=str)),
        "imgsz": int(imgsz),
        "input_policy": "dynamic",
        "precision": "fp32",
        "versions": {"yoloarena": __version__, "torch": torch.__version__,
                     **{p: _version(p) for p in ("onnx", "onnxruntime", "openvino", "onnxslim")}},
    }  # fmt: skip


def entry_name(net: Detector, fields: dict[str, Any]) -> str:
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in net.model_name or net.family)
    return f"{name or 'model'}-{key}"


def find(net: Detector, imgsz: int) -> tuple[Path, dict[str, Any], Entry | None]:
    """(entry folder, key fields, the entry when it exists and is complete)."""
    fields = key_fields(net, imgsz)
    folder = cache_root() / entry_name(net, fields)
    try:
        info = json.loads((folder / "entry.json").read_text())
    except (OSError, ValueError):
        return folder, fields, None
    if info.get("fields") != fields or info.get("choice") not in ("torch", *EXPORTED):
        return folder, fields, None
    return folder, fields, Entry(folder, info)


def get_entry(net: Detector, imgsz: int) -> Entry:
    """The cache entry of a deployed CPU network at imgsz: read, or built (export, parity check,
    timing) when missing."""
    folder, fields, entry = find(net, imgsz)
    if entry is not None:
        return entry
    return build(net, imgsz, folder, fields)


def build(net: Detector, imgsz: int, folder: Path, fields: dict[str, Any]) -> Entry:
    from ..export import export_model
    from ..export.check import ParityError

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    except OSError as e:
        raise YoloArenaError(f"cannot write the export cache {folder.parent} ({e}); set "
                             "YOLOARENA_CACHE_DIR to a writable folder") from None  # fmt: skip
    LOGGER.info("backend=auto: exporting %s at %d to the cache (once per weights) in %s",
                net.model_name or net.family, imgsz, folder)  # fmt: skip
    try:
        parity, failed = {}, {}
        for fmt in EXPORTED:
            if _version(_RUNTIMES[fmt]) is None:
                failed[fmt] = f"{_RUNTIMES[fmt]} is not installed"
                continue
            try:
                res = export_model(net, fmt, imgsz=imgsz, dynamic=True, file=tmp / _FILES[fmt])
                parity[fmt] = {"max_abs": res.parity.max_abs, "seconds": round(res.seconds, 2)}
            except (ParityError, YoloArenaError) as e:
                failed[fmt] = str(e)
                LOGGER.warning("backend=auto: %s left out: %s", fmt, e)
        timings, measured = measure(net, {f: tmp / _FILES[f] for f in parity}, imgsz)
        choice = min(timings, key=timings.get)
        info = {"fields": fields, "source": net_source(net), "parity": parity, "failed": failed,
                "timings_ms": timings, "choice": choice, "measured_on": measured,
                "created": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
        (tmp / "entry.json").write_text(json.dumps(info, indent=1, sort_keys=True))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same entry first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
            found = find(net, imgsz)[2]
            if found is None:
                raise
            return found
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    builds["count"] += 1
    _prune(folder, info)
    LOGGER.info("backend=auto: %s (ms per image at %s: %s)", choice,
                "x".join(map(str, measured["shape"][2:])),
                ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))  # fmt: skip
    return Entry(folder, info)


def net_source(net: Detector) -> str | None:
    src = getattr(net, "weights_info", {}).get("path")
    return str(Path(src).resolve()) if src else None


def _prune(folder: Path, info: dict[str, Any]) -> None:
    """Remove the entries built before this one for the same weights file and size."""
    if not info["source"]:
        return
    for other in folder.parent.glob("*/entry.json"):
        if other.parent == folder:
            continue
        try:
            old = json.loads(other.read_text())
        except (OSError, ValueError):
            continue
        same_size = old.get("fields", {}).get("imgsz") == info["fields"]["imgsz"]
        if old.get("source") == info["source"] and same_size:
            shutil.rmtree(other.parent, ignore_errors=True)


def measure(net: Detector, files: dict[str, Path], imgsz: int, runs: int = 5, warmup: int = 2):
    """(median ms per forward of torch and each exported file, what it was measured on): batch
    1 of a 4:3 image (a rectangle for letterbox families), alternating the order every round."""
    from ..export.check import check_image
    from ..export.runtime import load_exported

    img = check_image(None)
    x, _ = net.transform([img[: img.shape[0] * 3 // 4]], imgsz)
    candidates: dict[str, Any] = {"torch": net}
    candidates.update({k: load_exported(p) for k, p in files.items()})
    times: dict[str, list[float]] = {k: [] for k in candidates}
    with threads.scope() as policy, torch.inference_mode():
        for _ in range(warmup):
            for m in candidates.values():
                m(x)
        for i in range(runs):
            order = list(candidates.items())
            for k, m in order[::-1] if i % 2 else order:
                t0 = time.perf_counter()
                m(x)
                times[k].append((time.perf_counter() - t0) * 1e3)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    measured = {"shape": list(x.shape), "runs": runs, "threads": policy.describe(),
                "load": load_note()}  # fmt: skip
    return medians, measured
