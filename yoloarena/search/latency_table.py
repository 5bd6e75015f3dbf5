"""A per-part latency table measured on this machine, and the latency predictor built on it.

Measuring every candidate network is too slow for a search, but candidates share their parts (a
unit at a given width and feature-map size, the neck for given input widths), so each distinct
part is timed once and kept in a json table on disk, keyed by machine, backend, precision and
library versions: a later search on the same machine reuses it. A network's latency is predicted
as the sum of its parts plus a constant per neck (call overhead, the concatenations between
parts), calibrated as measured minus summed on whole networks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import tempfile
from importlib import metadata
from pathlib import Path

import torch

from ..bench.environment import cpu_name
from ..devices import select_device
from ..models.damoyolo.parts import Part, detector_parts
from ..models.damoyolo.structure import Structure
from .timing import time_part

LOGGER = logging.getLogger("yoloarena")
TABLE_VERSION = 1
_LIBS = {"torch": ("torch",), "onnx": ("torch", "onnx", "onnxruntime", "onnxslim"),
         "openvino": ("torch", "onnx", "onnxslim", "openvino")}  # fmt: skip


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def cache_folder() -> Path:
    base = os.environ.get("YOLOARENA_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "yoloarena") / "latency"


def identity(backend: str, device: str, half: bool) -> dict:
    """What a table's timings depend on."""
    from .. import __version__

    dev = select_device(device)
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    return {
        "table_version": TABLE_VERSION,
        "machine": cpu_name(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "backend": backend,
        "precision": "fp16" if half else "fp32",
        "versions": {p: _version(p) for p in _LIBS[backend]} | {"yoloarena": __version__},
    }


class LatencyTable:
    """part key -> median ms; whole-network measurements; one file per identity."""

    def __init__(
        self, backend: str, device: str = "cpu", half: bool = False, runs: int = 10,
        warmup: int = 3, path: str | Path | None = None,
    ) -> None:  # fmt: skip
        self.backend, self.device, self.half = backend, device, half
        self.runs, self.warmup = runs, warmup
        self.identity = identity(backend, device, half)
        digest = hashlib.sha1(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:12]
        self.path = Path(path) if path else cache_folder() / f"{backend}-{digest}.json"
        self.parts: dict[str, float] = {}
        self.networks: dict[str, float] = {}
        self.measured = 0  # parts timed by this process
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            LOGGER.warning("latency table %s is unreadable; starting a new one", self.path)
            return
        if data.get("identity") != self.identity:
            LOGGER.warning("latency table %s was measured elsewhere (%s); starting a new one",
                           self.path, data.get("identity", {}).get("machine"))  # fmt: skip
            return
        self.parts = {k: float(v) for k, v in data.get("parts", {}).items()}
        self.networks = {k: float(v) for k, v in data.get("networks", {}).items()}

    def save(self) -> None:
        """Write atomically (a temporary file renamed over the table)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"identity": self.identity, "parts": self.parts, "networks": self.networks}
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f, indent=0, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def ensure(self, parts: tuple[Part, ...] | list[Part]) -> None:
        """Time every part not in the table yet (and save the table)."""
        todo = {p.key: p for p in parts if p.key not in self.parts}
        for key, part in todo.items():
            self.parts[key] = time_part(part, self.backend, self.device, self.half, self.runs,
                                        self.warmup)  # fmt: skip
            self.measured += 1
        if todo:
            self.save()

    def total(self, parts: tuple[Part, ...] | list[Part]) -> float:
        self.ensure(parts)
        return sum(self.parts[p.key] for p in parts)


def network_key(st: Structure, neck: str, num_classes: int, imgsz: int) -> str:
    return f"{st.to_json()}|{neck}|{num_classes}|{imgsz}"


class LatencyPredictor:
    """Predicted latency (ms) of a detector with a searched backbone and a released neck."""

    def __init__(
        self, table: LatencyTable, num_classes: int, imgsz: int, runs: int = 20, warmup: int = 3
    ) -> None:
        self.table, self.num_classes, self.imgsz = table, num_classes, imgsz
        self.runs, self.warmup = runs, warmup
        self.constants: dict[str, float] = {}
        self.checked: list[tuple[float, float]] = []  # (predicted, measured) of whole networks

    def parts(self, st: Structure, neck: str) -> tuple[Part, ...]:
        return detector_parts(st, neck, self.num_classes, self.imgsz)

    def summed(self, st: Structure, neck: str) -> float:
        return self.table.total(self.parts(st, neck))

    def predict(self, st: Structure, neck: str) -> float:
        return self.summed(st, neck) + self.constant(neck)

    def measure(self, st: Structure, neck: str, fresh: bool = False) -> float:
        """Whole-network median latency (ms), kept in the table (fresh: time it again)."""
        from ..bench.latency import model_latency
        from ..registry import build_model

        key = network_key(st, neck, self.num_classes, self.imgsz)
        if fresh or key not in self.table.networks:
            model = build_model("damoyolo-nas", num_classes=self.num_classes, structure=st,
                                neck=neck)  # fmt: skip
            samples = model_latency(model, [self.table.backend], self.imgsz, self.runs,
                                    self.warmup, self.table.device, self.table.half)  # fmt: skip
            self.table.networks[key] = statistics.median(samples[self.table.backend])
            self.table.save()
        return self.table.networks[key]

    def calibrate(self, neck: str, references: list[Structure]) -> float:
        """The constant of neck: mean of measured minus summed over the reference networks (whose
        predicted and measured latencies join `checked`)."""
        refs = dict.fromkeys(references)
        pairs = [(self.summed(st, neck), self.measure(st, neck)) for st in refs]
        constant = sum(m - s for s, m in pairs) / len(pairs)
        self.constants[neck] = constant
        self.checked += [(s + constant, m) for s, m in pairs]
        return constant

    def constant(self, neck: str) -> float:
        if neck not in self.constants:
            raise KeyError(f"the predictor of {neck} is not calibrated; call calibrate first")
        return self.constants[neck]
