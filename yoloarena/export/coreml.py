"""CoreML (coremltools, ML program in an .mlpackage, fp32 or fp16 compute).

The graph goes through torch.export (coremltools' TorchScript frontend fails on this numpy), with
the same input and output names as every other format and the metadata in the model's
user-defined metadata (`yoloarena` json, plus plain `names` and `stride`). CoreML files are
written anywhere but only run on macOS: on Linux and Windows the export ends with a structural
check of the saved spec (input and outputs: names, shapes, types; metadata), on macOS with the
numeric parity check against PyTorch.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import YoloArenaError
from .check import Parity
from .formats import _replace, quiet_tracing, require
from .meta import META_KEY, dumps, loads
from .tflite import EDGE_HINT, contiguous_copy

LOGGER = logging.getLogger("yoloarena")
MACOS = platform.system() == "Darwin"
MACOS_ONLY = "the numeric parity check needs macOS (CoreML models run only there)"


@contextlib.contextmanager
def _quiet():
    """coremltools' progress bars and its note that it cannot run models off macOS."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with quiet_tracing(), contextlib.redirect_stderr(io.StringIO()):
        yield


def _ct():
    with _quiet():
        return require("coremltools", "CoreML export", EDGE_HINT)


def to_coreml(
    graph: torch.nn.Module, x: torch.Tensor, path: Path, names: list[str], meta: dict, half: bool
) -> Path:
    ct = _ct()
    net = contiguous_copy(graph).eval().cpu()
    with _quiet():
        program = torch.export.export(net, (x.detach().cpu(),)).run_decompositions({})
        model = ct.convert(
            program, outputs=[ct.TensorType(name=n, dtype=np.float32) for n in names],
            convert_to="mlprogram",  # float32 in and out, fp16 inside with half
            compute_precision=ct.precision.FLOAT16 if half else ct.precision.FLOAT32,
            minimum_deployment_target=ct.target.macOS13,
        )  # fmt: skip
    model.short_description = f"yoloarena {meta['model_name'] or meta['family']} detector"
    model.user_defined_metadata[META_KEY] = dumps(meta)
    model.user_defined_metadata["names"] = json.dumps({str(k): v for k, v in meta["names"].items()})
    model.user_defined_metadata["stride"] = str(max(meta["stride"]))
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent)) / path.name
    try:
        with _quiet():
            model.save(str(tmp))
        return _replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def read_spec(path: Path):
    ct = _ct()
    try:
        with _quiet():
            return ct.utils.load_spec(str(path))
    except Exception as e:
        raise YoloArenaError(f"'{path}' is not a readable CoreML model: {e}") from None


def read_meta(path: Path) -> dict[str, Any]:
    spec = read_spec(path)
    return loads(spec.description.metadata.userDefined.get(META_KEY, ""), str(path))


def describe(spec) -> dict[str, Any]:
    """Inputs and outputs of a spec: {name: (shape, data type name)}, and the metadata keys."""
    ct = _ct()
    dtype = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name

    def entry(feature) -> tuple[list[int], str]:
        arr = feature.type.multiArrayType
        return [int(s) for s in arr.shape], dtype(arr.dataType)

    desc = spec.description
    return {
        "inputs": {f.name: entry(f) for f in desc.input},
        "outputs": {f.name: entry(f) for f in desc.output},
        "metadata": dict(desc.metadata.userDefined),
    }


def structural_check(path: Path, expected: dict[str, list[int]], meta: dict[str, Any]) -> Parity:
    """The saved spec has input `images` and the documented outputs with the traced shapes, all
    float32, and carries the metadata. expected: {name: shape} of the input and outputs."""
    info = describe(read_spec(path))
    problems = []
    got = {**info["inputs"], **info["outputs"]}
    if list(info["inputs"]) != ["images"]:
        problems.append(f"inputs {list(info['inputs'])}, expected ['images']")
    if list(info["outputs"]) != meta["outputs"]:
        problems.append(f"outputs {list(info['outputs'])}, expected {meta['outputs']}")
    for name, shape in expected.items():
        if name in got and (got[name][0] != list(shape) or got[name][1] != "FLOAT32"):
            problems.append(f"{name} is {got[name]}, expected ({list(shape)}, 'FLOAT32')")
    stored = loads(info["metadata"].get(META_KEY, ""), str(path))
    for key in ("names", "stride", "imgsz", "outputs", "preprocess", "family"):
        if stored[key] != meta[key] and key != "names":
            problems.append(f"metadata {key} {stored[key]} != {meta[key]}")
    if stored["names"] != {int(k): v for k, v in meta["names"].items()}:
        problems.append("metadata names differ")
    if problems:
        raise YoloArenaError(f"CoreML file '{path}' is malformed: " + "; ".join(problems))
    return Parity({}, {}, True, note=f"structural check passed; {MACOS_ONLY}")


class CoreMLSession:
    """coremltools' MLModel.predict (macOS only)."""

    device = torch.device("cpu")

    def __init__(self, path: Path, device: torch.device) -> None:
        self.meta = read_meta(path)
        if not MACOS:
            raise YoloArenaError(
                f"'{path}' is a CoreML model: it runs only on macOS (predict/val on it need a "
                "Mac); on this machine use the ONNX, OpenVINO or TFLite export"
            )
        ct = _ct()
        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
        self.names = self.meta["outputs"]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for img in x.detach().cpu().numpy().astype(np.float32):
            res = self.model.predict({"images": img[None]})
            outs.append([torch.from_numpy(np.asarray(res[k])).float() for k in self.names])
        return [torch.cat(parts, 0) for parts in zip(*outs, strict=True)]
