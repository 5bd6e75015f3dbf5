"""Bounds on what a checkpoint file can make the loader allocate or walk.

A torch checkpoint is a zip archive (a raw pickle stream before PyTorch 1.6) whose pickle
declares each tensor storage by its size; torch allocates that size before it reads the bytes.
A hostile but allow-listed file can therefore exhaust the machine without running any code. So,
before torch reads anything (check_archive):

- the archive's entries may not inflate beyond MAX_INFLATION x the file size + SLACK (zip bomb);
- every storage the pickle declares must fit in the bytes the file holds for it (a 12-byte record
  declared as 100 GB would be allocated first). The pickle is read for this by an inert unpickler
  that builds nothing but placeholders.

After loading (check_loaded), the object graph is walked once with a budget: at most MAX_NODES
objects nested at most MAX_DEPTH deep, and tensors whose elements (as views: a stride-0 expanded
view counts in full, as any later copy would) add up to no more than the same byte budget.
Every refusal is a WeightsError naming the file.
"""

from __future__ import annotations

import pickle
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import WeightsError

MAX_INFLATION = 4  # bytes a file may unpack to per byte of file (tied weights count twice)
SLACK = 16 << 20
MAX_NODES = 2_000_000
MAX_DEPTH = 1_000


def byte_budget(size: int) -> int:
    """The most tensor bytes a file of size bytes may hold."""
    return MAX_INFLATION * size + SLACK


def _refuse(path: Path, why: str) -> WeightsError:
    return WeightsError(
        f"refusing to load '{path}': {why}; it is damaged or built to exhaust memory. Use "
        "weights saved by PyTorch (torch.save) or yoloarena"
    )


def _gb(n: int | float) -> str:
    """A byte count for people: 1.21 GB, 1.18 MB, 1.6 kB, 12 bytes."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def check_archive(path: str | Path) -> int:
    """Check a checkpoint before torch reads it; returns its byte budget."""
    path = Path(path)
    size = path.stat().st_size
    budget = byte_budget(size)
    if zipfile.is_zipfile(path):
        try:
            _check_zip(path, budget)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise WeightsError(f"cannot read weights file '{path}': {e}") from None
    elif _starts_with_pickle(path):  # PyTorch's legacy (< 1.6) format
        _check_legacy(path, size)
    elif tarfile.is_tarfile(path):
        raise WeightsError(
            f"'{path}' is in PyTorch's tar format (before 0.4), which yoloarena does not read"
        )
    return budget


def _check_zip(path: Path, budget: int) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > budget:
            size = _gb(path.stat().st_size)
            raise _refuse(path, f"its entries unpack to {_gb(total)} from a {size} file")
        pickles = [i for i in infos if i.filename.endswith("data.pkl") and "/" in i.filename]
        if not pickles:
            return  # not a torch archive: torch says so
        prefix = pickles[0].filename.rsplit("/", 1)[0]
        records = {i.filename: i.file_size for i in infos}
        with zf.open(pickles[0]) as f:
            data = f.read(pickles[0].file_size + 1)
        if len(data) > pickles[0].file_size:
            raise _refuse(path, "its pickle is larger than the archive says")
        for key, nbytes in _declared_storages(data, path):
            record = records.get(f"{prefix}/data/{key}")
            if record is None:
                raise _refuse(path, f"a tensor storage '{key}' has no data in the archive")
            if nbytes > record:
                raise _refuse(path, f"storage '{key}' is declared as {_gb(nbytes)} but the file "
                              f"holds {record} bytes for it")  # fmt: skip


def _starts_with_pickle(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(1) == b"\x80"


def _check_legacy(path: Path, size: int) -> None:
    """The legacy stream: magic, protocol, sys_info, the object (declaring storages by element
    count), then the raw storages; declared storages must fit in the file."""
    total = 0
    with path.open("rb") as f:
        try:
            for _ in range(3):
                _Inert(f, path).load()
            inert = _Inert(f, path)
            inert.load()
        except WeightsError:
            raise
        except Exception as e:
            raise WeightsError(f"cannot read weights file '{path}': {e}") from None
    seen = set()
    for pid in inert.pids:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[2] not in seen:
            seen.add(pid[2])
            total += _storage_bytes(pid[1], pid[4], path)
    if total > size:
        raise _refuse(path, f"it declares {_gb(total)} of tensors in a {_gb(size)} file")


def _declared_storages(data: bytes, path: Path) -> list[tuple[str, int]]:
    """(record key, bytes) of every storage the pickle declares."""
    import io

    inert = _Inert(io.BytesIO(data), path)
    try:
        inert.load()
    except WeightsError:
        raise
    except Exception as e:
        raise WeightsError(f"cannot read weights file '{path}': {e}") from None
    out = []
    for pid in inert.pids:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _refuse(path, f"unexpected persistent id {str(pid)[:60]}")
        out.append((str(pid[2]), _storage_bytes(pid[1], pid[4], path)))
    return out


def _storage_bytes(storage_type: Any, numel: Any, path: Path) -> int:
    name = getattr(storage_type, "class_path", "")
    if not name.startswith("torch.") or isinstance(numel, bool) or not isinstance(numel, int):
        raise _refuse(path, f"a storage of type '{name}' with size {str(numel)[:40]}")
    kind = getattr(torch, name.split(".", 1)[1], None)
    with warnings.catch_warnings():  # reading a TypedStorage class's dtype warns
        warnings.simplefilter("ignore")
        dtype = getattr(kind, "dtype", None) if isinstance(kind, type) else None
    if kind is torch.UntypedStorage:
        itemsize = 1
    elif isinstance(dtype, torch.dtype):
        itemsize = torch.empty(0, dtype=dtype).element_size()
    else:
        raise _refuse(path, f"unknown storage type '{name}'")
    if numel < 0:
        raise _refuse(path, f"a storage of {numel} elements")
    return numel * itemsize


class _Stub:
    """An inert object: accepts any construction, state, items and appends; keeps nothing."""

    class_path = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _Inert(pickle.Unpickler):
    """Reads a pickle without importing or calling anything: every global is a _Stub class
    named after it; persistent ids (tensor storages) are recorded."""

    def __init__(self, f, path: Path) -> None:
        super().__init__(f)
        self.pids: list[Any] = []
        self.classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> type:
        key = f"{module}.{name}"
        if key not in self.classes:
            self.classes[key] = type("Stub", (_Stub,), {"class_path": key})
        return self.classes[key]

    def persistent_load(self, pid: Any) -> _Stub:
        self.pids.append(pid)
        return _Stub()


def check_loaded(obj: Any, path: str | Path, budget: int) -> None:
    """Walk what torch.load returned, once, within the node, depth and byte budgets."""
    path = Path(path)
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(obj, 0)]
    tensor_bytes = 0
    while stack:
        item, depth = stack.pop()
        if id(item) in seen or item is None or isinstance(item, str | bytes | int | float):
            continue
        seen.add(id(item))
        if len(seen) > MAX_NODES:
            raise _refuse(path, f"it holds more than {MAX_NODES} objects")
        if depth > MAX_DEPTH:
            raise _refuse(path, f"its objects are nested more than {MAX_DEPTH} deep")
        if isinstance(item, torch.Tensor):
            tensor_bytes += item.numel() * item.element_size()
            if tensor_bytes > budget:
                raise _refuse(path, f"its tensors add up to more than {_gb(budget)} from a "
                              f"{_gb(path.stat().st_size)} file")  # fmt: skip
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            children = list(item)
        elif hasattr(item, "__dict__"):
            children = list(vars(item).values())
        else:
            continue
        stack.extend((c, depth + 1) for c in children)
