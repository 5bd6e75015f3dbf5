"""Checkpoints that only use allow-listed structures but are built to exhaust the machine.

Each maker writes a small file and returns its path; HOSTILE maps a name to (maker, what the
refusal must say). A loader without bounds would recurse forever, walk 2**60 paths, build a model
of 10**12 classes, or allocate gigabytes from a file of a few kB.
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

DAMO_HEAD = "head.gfl_cls.0.weight"


@contextlib.contextmanager
def fake_yolov5_classes() -> Iterator[type]:
    """models.yolo.Model as an importable class while pickling (the official class path)."""
    yolo, parent = types.ModuleType("models.yolo"), types.ModuleType("models")

    class Model:
        pass

    Model.__module__, Model.__qualname__ = "models.yolo", "Model"
    yolo.Model, parent.yolo = Model, yolo
    saved = {k: sys.modules.get(k) for k in ("models", "models.yolo")}
    sys.modules.update({"models": parent, "models.yolo": yolo})
    try:
        yield Model
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def _module(cls: type, modules: dict, params: dict | None = None):
    m = cls()
    m.__dict__.update({"_parameters": params or {}, "_buffers": {}, "_modules": modules})
    return m


def cyclic(folder: Path) -> Path:
    """A YOLOv5-shaped checkpoint whose module tree contains itself."""
    path = folder / "cyclic.pt"
    with fake_yolov5_classes() as Model:
        root = _module(Model, {})
        root._modules["0"] = _module(Model, {"0": root})
        torch.save({"model": root, "epoch": -1}, path)
    return path


def shared(folder: Path) -> Path:
    """60 levels, each with two children that are the same module: 2**60 paths in 60 nodes."""
    path = folder / "shared.pt"
    with fake_yolov5_classes() as Model:
        node = _module(Model, {}, {"weight": torch.zeros(1)})
        for _ in range(60):
            node = _module(Model, {"a": node, "b": node})
        torch.save({"model": node, "epoch": -1}, path)
    return path


def _own(num_classes: int, model_name: str, sd: dict) -> dict:
    return {"format": "yoloarena", "version": 1, "model_name": model_name,
            "num_classes": num_classes, "names": {}, "state_dict": sd}  # fmt: skip


def absurd_classes(folder: Path) -> Path:
    """A yoloarena file claiming 10**12 classes (its names alone would not fit in memory)."""
    path = folder / "absurd_classes.pt"
    torch.save(_own(10**12, "yolov5n", {"model.0.conv.weight": torch.zeros(16, 3, 6, 6)}), path)
    return path


def mismatched_classes(folder: Path) -> Path:
    """yolov5n with 99999 classes (a real build: 1.6 GB) but the tensors of a 2-class one."""
    from yoloarena.registry import build_model

    path = folder / "mismatched_classes.pt"
    sd = build_model("yolov5n", num_classes=2).state_dict()
    torch.save(_own(99_999, "yolov5n", sd), path)
    return path


def expanded(folder: Path) -> Path:
    """A DAMO-YOLO head weight that is one float viewed (stride 0) as 10**9 x 64 x 3 x 3."""
    path = folder / "expanded.pth"
    head = torch.zeros(1).expand(10**9, 64, 3, 3)
    torch.save({"model": {DAMO_HEAD: head}}, path)
    return path


class _StorageRef:
    pass


class _Tensor:
    """Pickles as torch's own tensor rebuild of storage 'key' with numel float32 elements."""

    def __init__(self, numel: int) -> None:
        self.numel = numel

    def __reduce__(self):
        args = (_StorageRef(), 0, (self.numel,), (1,), False, collections.OrderedDict())
        return torch._utils._rebuild_tensor_v2, args


def _data_pkl(numel: int, legacy: bool = False) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _StorageRef):
                pid = ("storage", torch.FloatStorage, "0", "cpu", numel)
                return (*pid, None) if legacy else pid
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"model": {DAMO_HEAD: _Tensor(numel)}})
    return buf.getvalue()


def _torch_zip(path: Path, data_pkl: bytes, record: tuple[int, int, bytes, int]) -> None:
    """A torch archive (the layout torch.save writes) with data.pkl and one storage record
    given as (crc32, uncompressed size, stored bytes, zip method)."""
    probe = io.BytesIO()
    torch.save(torch.zeros(1), probe)
    with zipfile.ZipFile(io.BytesIO(probe.getvalue())) as zf:
        prefix = zf.namelist()[0].split("/", 1)[0]
        small = {i.filename: zf.read(i) for i in zf.infolist()
                 if not i.filename.endswith(("data.pkl", "/data/0"))}  # fmt: skip
    entries = [(f"{prefix}/data.pkl", (zlib.crc32(data_pkl), len(data_pkl), data_pkl, 0))]
    entries.append((f"{prefix}/data/0", record))
    entries += [(n, (zlib.crc32(b), len(b), b, 0)) for n, b in small.items()]
    _write_zip(path, entries)


def _write_zip(path: Path, entries: list[tuple[str, tuple[int, int, bytes, int]]]) -> None:
    """A plain zip written byte by byte (so a record can be a prepared deflate stream)."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, (crc, size, data, method) in entries:
        offset, raw = out.tell(), name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data),
                              size, len(raw), 0) + raw + data)  # fmt: skip
        fields = (20, 20, 0, method, 0, 0, crc, len(data), size, len(raw), 0, 0, 0, 0, 0, offset)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, *fields) + raw)
    start, cd = out.tell(), central.getvalue()
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                               len(cd), start, 0))  # fmt: skip
    path.write_bytes(out.getvalue())


def zip_bomb(folder: Path) -> Path:
    """A 1.2 MB torch archive whose (consistent) storage record inflates to 1.2 GB of zeros."""
    path = folder / "zip_bomb.pth"
    chunk, repeats = b"\0" * (64 << 20), 18
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)  # independent, byte-aligned
    stream = segment * repeats + z.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    size = len(chunk) * repeats
    _torch_zip(path, _data_pkl(size // 4), (crc, size, stream, zipfile.ZIP_DEFLATED))
    return path


def declared_storage(folder: Path) -> Path:
    """A torch archive whose pickle declares a 2 GB storage for a 12-byte record."""
    path = folder / "declared_storage.pth"
    data = bytes(12)
    _torch_zip(path, _data_pkl(500_000_000), (zlib.crc32(data), 12, data, 0))
    return path


def legacy_declared_storage(folder: Path) -> Path:
    """The same in PyTorch's legacy (< 1.6) stream format."""
    from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

    path = folder / "legacy_declared_storage.pt"
    sys_info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}  # fmt: skip
    head = b"".join(pickle.dumps(x, protocol=2) for x in (MAGIC_NUMBER, PROTOCOL_VERSION, sys_info))
    tail = pickle.dumps(["0"], protocol=2) + struct.pack("<q", 3) + bytes(12)
    path.write_bytes(head + _data_pkl(500_000_000, legacy=True) + tail)
    return path


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "cyclic": (cyclic, "appears twice in the module tree (cyclic or shared)"),
    "shared": (shared, "appears twice in the module tree (cyclic or shared)"),
    "absurd_classes": (absurd_classes, "gives num_classes=1000000000000; a model has 1 to"),
    "mismatched_classes": (
        mismatched_classes,
        "do not fit the model: mis-shaped 6: "
        "model.24.m.0.weight (21, 64, 1, 1) != (300012, 64, 1, 1)",
    ),
    "expanded": (expanded, "its tensors add up to more than 16.8 MB from a 1.65 kB file"),
    "zip_bomb": (zip_bomb, "its entries unpack to 1.21 GB from a 1.18 MB file"),
    "declared_storage": (declared_storage, "storage '0' is declared as 2 GB but the file holds 12"),
    "legacy_declared_storage": (legacy_declared_storage, "it declares 2 GB of tensors in a"),
}
