"""device=: one parser for every form; a missing device is one line, exit code 1, in every mode."""

from __future__ import annotations

import pytest
import torch

from yoloarena.cli import main
from yoloarena.devices import (
    DeviceError,
    DeviceSpec,
    check_device,
    cuda_indices,
    is_cuda,
    parse_device,
    select_device,
)


@pytest.mark.parametrize(
    ("value", "kind", "indices"),
    [
        ("cpu", "cpu", ()), ("CPU", "cpu", ()), ("", "cpu", ()), (None, "cpu", ()),
        ("0", "cuda", (0,)), (0, "cuda", (0,)), (3, "cuda", (3,)), (" 1 ", "cuda", (1,)),
        ("0,1", "cuda", (0, 1)), ("0, 1,3", "cuda", (0, 1, 3)), ("[0, 1]", "cuda", (0, 1)),
        ("cuda", "cuda", ()), ("CUDA:1", "cuda", (1,)), ("cuda:0,1", "cuda", (0, 1)),
        ("mps", "mps", ()), (torch.device("cpu"), "cpu", ()),
        (torch.device("cuda", 2), "cuda", (2,)), (torch.device("cuda"), "cuda", ()),
    ],
)  # fmt: skip
def test_every_form_parses(value, kind, indices) -> None:
    spec = parse_device(value)
    assert (spec.type, spec.indices) == (kind, indices)
    assert cuda_indices(value) == list(indices) and is_cuda(value) == (kind == "cuda")


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "-1", "0,,1", "1.5", "0,0", "tpu", True])
def test_not_a_device_is_one_line(value) -> None:
    with pytest.raises(DeviceError, match=r"device=.* (is not a device|names a GPU twice)") as e:
        parse_device(value)
    assert "\n" not in str(e.value)


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine with two CUDA devices, as far as the parser can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize(
    ("value", "device"),
    [("0", "cuda:0"), (1, "cuda:1"), ("cuda:1", "cuda:1"), ("cuda", "cuda"), ("cpu", "cpu")],
)
def test_select_device_with_cuda(value, device) -> None:
    assert select_device(value) == torch.device(device)
    assert check_device("0,1") == DeviceSpec("cuda", (0, 1), "0,1")


@pytest.mark.usefixtures("two_gpus")
def test_missing_gpu_index_and_lists_where_one_device_is_needed() -> None:
    with pytest.raises(DeviceError, match=r"device=2: GPU 2 does not exist; .* 2 CUDA devices"):
        check_device("2")
    with pytest.raises(DeviceError, match=r"device=0,1 names 2 GPUs; only training .* device=0"):
        select_device("0,1")


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("value", ["0", 0, "cuda:0", "cuda", "0,1", torch.device("cuda", 0)])
def test_cuda_without_cuda_says_so(value) -> None:
    with pytest.raises(DeviceError, match=r"asks for CUDA, but torch finds no CUDA device"):
        select_device(value)
    with pytest.raises(DeviceError, match=r"MPS"):
        select_device("mps")
    assert select_device("cpu") == torch.device("cpu")


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("device", ["0", "cuda:0"])
@pytest.mark.parametrize(
    "args",
    [
        ["train", "model=yolov5n", "data=missing.yaml"],
        ["val", "model=yolov5n", "data=missing.yaml"],
        ["predict", "model=yolov5n", "source=missing.jpg"],
        ["export", "model=yolov5n", "format=onnx"],
        ["benchmark", "models=yolov5n", "backends=torch"],
        ["compare", "models=yolov5n"],
    ],
)
def test_cli_device_without_cuda_is_one_line_exit_1(args, device, capsys, tmp_path) -> None:
    assert main([*args, f"device={device}", f"project={tmp_path}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"yoloarena {args[0]}: error: device={device} asks for CUDA, but torch finds no CUDA "
        f"device on this machine (torch {torch.__version__}); use device=cpu"
    )
    assert not any(tmp_path.iterdir())  # refused before anything is written
