"""Opening pickled checkpoints without running foreign code.

Official YOLOv5 `.pt` files pickle whole nn.Modules from the yolov5 repository (`models.yolo.Model`,
`models.common.Conv`, ...). `safe_load` unpickles them with an allow-list: tensor rebuild functions
and plain containers are real; known class paths (yolov5 `models.*`/`utils.*`, torch.nn modules,
a few torchvision transforms, pathlib paths) become inert `Placeholder` objects that only keep the
state they were given; any other global (os.system, eval, subprocess...) stops the load with an
error. Nothing from the file is imported or executed.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import torch

from .archive import check_archive, check_loaded
from .errors import WeightsError


class UnsafeCheckpointError(WeightsError):
    """The pickle asks for a global outside the allow-list."""


class Placeholder:
    """Inert stand-in for a pickled object of an allow-listed class.

    It accepts any constructor arguments and keeps the unpickled state as attributes
    (for an nn.Module: `_modules`, `_parameters`, `_buffers` and plain attributes).
    """

    class_path = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_init_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"Placeholder({self.class_path})"


_placeholder_classes: dict[str, type[Placeholder]] = {}


def placeholder_class(path: str) -> type[Placeholder]:
    if path not in _placeholder_classes:
        name = path.rsplit(".", 1)[-1]
        _placeholder_classes[path] = type(name, (Placeholder,), {"class_path": path})
    return _placeholder_classes[path]


# Globals handed to the pickle as the real object: they only rebuild data.
_REAL = {
    "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": torch._utils._rebuild_parameter_with_state,
    "torch.Size": torch.Size,
    "torch.device": torch.device,
    "collections.OrderedDict": __import__("collections").OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.slice": slice,
}
_NUMPY = (  # numpy arrays/scalars in user checkpoints (e.g. best_fitness)
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
)
# Class paths that become placeholders: whole namespaces, and exact names.
_PLACEHOLDER_PREFIXES = ("models.", "utils.", "torch.nn.modules.")
_PLACEHOLDER_NAMES = {
    "torchvision.transforms.transforms.Compose",
    "torchvision.transforms.transforms.Normalize",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "argparse.Namespace",
}


def _getattr_stub(obj: Any, name: str, *default: Any) -> Placeholder:
    """Stands in for builtins.getattr (segmentation files pickle getattr(Detect, 'forward'))."""
    return placeholder_class(f"getattr:{getattr(obj, 'class_path', obj)}.{name}")()


def _resolve(module: str, name: str) -> Any | None:
    path = f"{module}.{name}"
    if path in _REAL:
        return _REAL[path]
    if path == "builtins.getattr":
        return _getattr_stub
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    if path in _NUMPY or module == "numpy.dtypes":
        import importlib

        return getattr(importlib.import_module(module), name)
    if path in _PLACEHOLDER_NAMES or path.startswith(_PLACEHOLDER_PREFIXES):
        return placeholder_class(path)
    return None


def _restricted_pickle_module(source: str) -> types.ModuleType:
    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            module = "builtins" if module == "__builtin__" else module
            obj = _resolve(module, name)
            if obj is None:
                raise UnsafeCheckpointError(
                    f"refusing to load '{source}': its pickle asks for '{module}.{name}', which "
                    "is not a weight or a known model class and could run code. yoloarena loads "
                    "plain weights only; re-save the weights as a state_dict from trusted code."
                )
            return obj

    mod = types.ModuleType("yoloarena_restricted_pickle")
    mod.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
    mod.load = lambda f, **kw: RestrictedUnpickler(f, **kw).load()  # type: ignore[attr-defined]
    return mod


def safe_load(path: str | Path) -> Any:
    """Load a torch checkpoint: weights_only when possible, else the restricted unpickler.

    The file is checked before torch reads it and the result after (archive.py): a file that
    would inflate far beyond its size, or hold an absurd object graph, is refused."""
    path = Path(path)
    budget = check_archive(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        obj = _load_restricted(path)  # pickles classes: the allow-listed unpickler
    except Exception as e:  # not a torch file, truncated, corrupt
        raise WeightsError(f"cannot read weights file '{path}': {e}".split("\n")[0]) from None
    check_loaded(obj, path, budget)
    return obj


def load_plain(path: str | Path, mmap: bool = False) -> Any:
    """torch.load(weights_only=True) of our own files, with the same checks as safe_load."""
    path = Path(path)
    budget = check_archive(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:
        raise WeightsError(f"cannot read checkpoint '{path}': {str(e).splitlines()[0]}") from None
    check_loaded(obj, path, budget)
    return obj


def _load_restricted(path: Path) -> Any:
    try:
        return torch.load(
            path,
            map_location="cpu",
            weights_only=False,
            pickle_module=_restricted_pickle_module(str(path)),
        )
    except UnsafeCheckpointError:
        raise
    except Exception as e:  # corrupt archive, truncated file, unexpected layout
        raise WeightsError(f"cannot read weights file '{path}': {e}".split("\n")[0]) from None
