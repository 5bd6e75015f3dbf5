"""`device=`: one parser for every mode and function that takes a device.

Accepted forms (Ultralytics' spelling): ``cpu``; ``0`` or ``cuda:0`` (one GPU); ``0,1`` (several
GPUs: training runs one process per GPU); ``cuda`` (the current GPU); ``mps`` (Apple); an int;
a ``torch.device``. An empty value or None means cpu.

    parse_device("0,1")      -> DeviceSpec(type="cuda", indices=(0, 1))   # syntax only
    check_device("0")        -> the spec, or DeviceError when this machine has no such device
    select_device("cuda:1")  -> torch.device("cuda:1")                    # exactly one device
    cuda_indices("0,1")      -> [0, 1]                                    # the DDP device list
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from .errors import YoloArenaError

FORMS = "cpu, 0, 0,1, cuda, cuda:1 or mps"


class DeviceError(YoloArenaError):
    """A device= value that is not a device, or a device this machine does not have."""


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device= value. indices: the CUDA devices named (empty: cpu, mps, bare `cuda`)."""

    type: Literal["cpu", "cuda", "mps"]
    indices: tuple[int, ...] = ()
    text: str = "cpu"  # what the user wrote, for messages

    def torch_device(self) -> torch.device:
        """The single torch.device this spec names (DeviceError for a list of GPUs)."""
        if len(self.indices) > 1:
            raise DeviceError(
                f"device={self.text} names {len(self.indices)} GPUs; only training runs on "
                f"several (one process each); give one here, e.g. device={self.indices[0]}"
            )
        if self.type == "cuda" and self.indices:
            return torch.device("cuda", self.indices[0])
        return torch.device(self.type)


def parse_device(device: str | int | torch.device | None) -> DeviceSpec:
    """The DeviceSpec of a device= value; DeviceError if it is not one of the accepted forms.

    Syntax only: availability is check_device's job."""
    if isinstance(device, torch.device):
        if device.type not in ("cpu", "cuda", "mps"):
            raise DeviceError(f"device={device} is not supported (use {FORMS})")
        index = () if device.index is None or device.type != "cuda" else (device.index,)
        return DeviceSpec(device.type, index, str(device))  # type: ignore[arg-type]
    if isinstance(device, bool):
        raise DeviceError(f"device={device} is not a device (use {FORMS})")
    text = "cpu" if device is None else str(device).strip()
    body = text.lower().strip("[]() ")
    if body in ("", "cpu"):
        return DeviceSpec("cpu", (), text or "cpu")
    if body in ("mps", "mps:0"):
        return DeviceSpec("mps", (), text)
    if body == "cuda":
        return DeviceSpec("cuda", (), text)
    if body.startswith("cuda:"):
        body = body[5:]
    parts = [p.strip() for p in body.split(",")]
    if not all(p.isdigit() for p in parts):  # isdigit: no sign, so -1 is refused too
        raise DeviceError(f"device={text} is not a device (use {FORMS})")
    indices = tuple(int(p) for p in parts)
    if len(set(indices)) != len(indices):
        raise DeviceError(f"device={text} names a GPU twice")
    return DeviceSpec("cuda", indices, text)


def check_device(device: str | int | torch.device | None) -> DeviceSpec:
    """parse_device, then make sure this machine has the device; DeviceError (one line) if not."""
    spec = parse_device(device)
    if spec.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device={spec.text} asks for CUDA, but torch finds no CUDA device on this "
                f"machine (torch {torch.__version__}); use device=cpu"
            )
        count = torch.cuda.device_count()
        missing = [i for i in spec.indices if i >= count]
        if missing:
            raise DeviceError(
                f"device={spec.text}: GPU {missing[0]} does not exist; this machine has {count} "
                f"CUDA device{'s' if count != 1 else ''} (0..{count - 1})"
            )
    if spec.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device={spec.text} asks for MPS (Apple), which this machine lacks")
    return spec


def select_device(device: str | int | torch.device | None) -> torch.device:
    """The one torch.device for device=, checked (DeviceError for a GPU list or a missing one)."""
    if isinstance(device, torch.device) and device.type == "cpu":
        return device
    return check_device(device).torch_device()


def cuda_indices(device: str | int | torch.device | None) -> list[int]:
    """The GPUs a device= value lists ([] for cpu and mps; [] for bare `cuda`: the current one)."""
    return list(parse_device(device).indices)


def is_cuda(device: str | int | torch.device | None) -> bool:
    """Whether device= asks for CUDA (syntax only)."""
    return parse_device(device).type == "cuda"
