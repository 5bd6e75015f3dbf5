"""INT8 post-training quantisation of exported files, and its accuracy check.

Calibration images come from a dataset's train split, preprocessed exactly as the file expects.
The decode and output ops (everything after the last convolution on every path: sigmoid, grid
and anchor arithmetic, the DFL softmax and integral, concatenations) stay in float, so boxes are
computed from the quantised features with float arithmetic, as Ultralytics does; the ops are
found from the graph itself (`tail_nodes`), the same rule for ONNX, OpenVINO and TFLite.

- ONNX: ONNX Runtime static quantisation, QDQ format, per-channel int8 weights, uint8
  activations, MinMax calibration, the tail and the head's final convolutions excluded
  (`nodes_to_exclude`): quantising those (one per-tensor scale over box and class logits) cost
  the official yolov5n 0.0215 AP on coco128, keeping them float 0.013.
- OpenVINO: NNCF post-training quantisation (MIXED preset), the tail in NNCF's ignored scope
  (NNCF's ranges keep the final convolutions accurate: 0.006 AP for yolov5n).
- TFLite: ai-edge-quantizer static int8 (int8 weights and activations), the tail and the final
  convolutions left in float, as for ONNX.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import YoloArenaError
from ..models.base import Detector
from .formats import _replace, require
from .meta import META_KEY, dumps

LOGGER = logging.getLogger("yoloarena")
Node = tuple[str, str, Sequence[str], Sequence[str]]  # name, op type, input and output tensors
EDGE_HINT = "install the edge extra: pip install 'yoloarena[edge]'"


def calibration_inputs(
    model: Detector, data: str | Path, imgsz: tuple[int, int], fraction: float, count: int
) -> tuple[list[np.ndarray], str]:
    """Preprocessed [1, 3, H, W] float32 inputs from the train split of data, evenly spread:
    min(count, fraction x split size) images. Returns the inputs and a line saying which."""
    from ..data.load import load_dataset
    from .check import parity_input

    if not 0 < fraction <= 1:
        raise YoloArenaError(f"fraction={fraction} must be in (0, 1]")
    if count < 1:
        raise YoloArenaError(f"calib_images={count} must be at least 1")
    dataset = load_dataset(data, "train")
    n = max(1, min(count, math.ceil(len(dataset) * fraction)))
    picks = np.linspace(0, len(dataset) - 1, n).round().astype(int)
    out = [
        parity_input(model, dataset.load_image(int(i)), imgsz, 1).numpy().astype(np.float32)
        for i in dict.fromkeys(picks.tolist())
    ]
    return out, f"{len(out)} of {len(dataset)} train images of {data}"


def tail_nodes(nodes: Sequence[Node], compute: Iterable[str]) -> set[str]:
    """Names of the nodes from which no compute node (a convolution) can be reached: the decode
    and output subgraph. nodes must be in topological order."""
    compute = set(compute)
    consumers: dict[str, list[int]] = {}
    for k, (_, _, inputs, _) in enumerate(nodes):
        for t in inputs:
            consumers.setdefault(t, []).append(k)
    reaches = [False] * len(nodes)
    for k in range(len(nodes) - 1, -1, -1):
        _, op, _, outputs = nodes[k]
        reaches[k] = op in compute or any(reaches[c] for t in outputs for c in consumers.get(t, ()))
    return {nodes[k][0] for k in range(len(nodes)) if not reaches[k]}


def final_convs(nodes: Sequence[Node], compute: Iterable[str], tail: set[str]) -> set[str]:
    """The compute nodes whose outputs only feed the tail: the head's last convolutions, whose
    raw outputs mix box and class logits of very different ranges in one tensor."""
    compute = set(compute)
    consumers: dict[str, list[str]] = {}
    for name, _, inputs, _ in nodes:
        for t in inputs:
            consumers.setdefault(t, []).append(name)
    return {
        name
        for name, op, _, outputs in nodes
        if op in compute and all(c in tail for t in outputs for c in consumers.get(t, ()))
    }


def onnx_int8(src: Path, path: Path, calib: list[np.ndarray], meta: dict[str, Any]) -> dict:
    """Static QDQ int8 ONNX of an FP32 ONNX file (ONNX Runtime's quantiser)."""
    onnx = require("onnx", "ONNX INT8 export")
    q = require("onnxruntime.quantization", "ONNX INT8 export")
    proto = onnx.load(str(src))
    for k, node in enumerate(proto.graph.node):  # exclusion works by node name
        node.name = node.name or f"{node.op_type}_{k}"
    nodes = [(n.name, n.op_type, list(n.input), list(n.output)) for n in proto.graph.node]
    tail = tail_nodes(nodes, {"Conv"})
    tail |= final_convs(nodes, {"Conv"}, tail)  # per-tensor uint8 on them: yolov5n -0.02 AP
    del proto.metadata_props[:]

    class Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calib)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"images": x}

    tmp = Path(tempfile.mkdtemp(prefix="yoloarena-int8-"))
    try:
        onnx.save(proto, str(tmp / "fp32.onnx"))
        q.quantize_static(
            str(tmp / "fp32.onnx"), str(tmp / "int8.onnx"), Reader(),
            quant_format=q.QuantFormat.QDQ, activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8, per_channel=True, nodes_to_exclude=sorted(tail),
            calibrate_method=q.CalibrationMethod.MinMax,
        )  # fmt: skip
        out = onnx.load(str(tmp / "int8.onnx"))
        from .formats import add_onnx_metadata

        add_onnx_metadata(out, meta)
        onnx.save(out, str(tmp / "final.onnx"))
        _replace(tmp / "final.onnx", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ort = require("onnxruntime", "ONNX INT8 export")
    return {"tool": f"onnxruntime {ort.__version__} quantize_static (QDQ, per-channel)",
            "float_ops": len(tail)}  # fmt: skip


def openvino_int8(src: Path, path: Path, calib: list[np.ndarray], meta: dict[str, Any]) -> dict:
    """INT8 OpenVINO IR of an FP32 IR folder (NNCF post-training quantisation)."""
    ov = require("openvino", "OpenVINO INT8 export")
    nncf = require("nncf", "OpenVINO INT8 export")
    model = ov.Core().read_model(str(src / "model.xml"))
    nodes = []
    for op in model.get_ordered_ops():
        name = op.get_friendly_name()
        inputs = [f"{i.get_source_output().get_node().get_friendly_name()}:"
                  f"{i.get_source_output().get_index()}" for i in op.inputs()]  # fmt: skip
        outputs = [f"{name}:{k}" for k in range(op.get_output_size())]
        nodes.append((name, op.get_type_name(), inputs, outputs))
    tail = tail_nodes(nodes, {"Convolution", "GroupConvolution"})
    quantised = nncf.quantize(
        model, nncf.Dataset(calib), subset_size=len(calib),
        preset=nncf.QuantizationPreset.MIXED,
        ignored_scope=nncf.IgnoredScope(names=sorted(tail), validate=False),
    )  # fmt: skip
    quantised.set_rt_info(dumps(meta), [META_KEY])
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    try:
        ov.save_model(quantised, str(tmp / "model.xml"), compress_to_fp16=False)
        (tmp / f"{META_KEY}.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"tool": f"nncf {nncf.__version__} quantize (MIXED preset)", "float_ops": len(tail)}


def tflite_tail_scopes(src: Path) -> list[str]:
    """ai-edge-quantizer scopes (output tensor names + ';') of the TFLite decode/output ops."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(src))
    names = {d["index"]: d["name"] for d in it.get_tensor_details()}
    ops = it._get_ops_details()
    scopes = {o["index"]: ";".join(names[i] for i in o["outputs"] if i >= 0) + ";" for o in ops}
    nodes = [(str(o["index"]), o["op_name"], [str(i) for i in o["inputs"]],
              [str(i) for i in o["outputs"]]) for o in ops]  # fmt: skip
    compute = {"CONV_2D", "DEPTHWISE_CONV_2D"}
    tail = tail_nodes(nodes, compute)
    tail |= final_convs(nodes, compute, tail)
    return [scopes[int(k)] for k in sorted(tail, key=int)]


def tflite_quantize(src: Path, out: Path, calib: list[np.ndarray] | None) -> dict:
    """fp16 weights (calib None) or static int8 (int8 weights and activations) of a float
    TFLite file, with ai-edge-quantizer; the decode/output ops stay float32."""
    aeq = require("ai_edge_quantizer", "TFLite quantisation", EDGE_HINT)
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(src))
    if calib is None:
        qt.add_weight_only_config(regex=".*", operation_name="*", num_bits=16,
                                  algorithm_key="float_casting")  # fmt: skip
        scopes: list[str] = []
    else:
        qt.load_quantization_recipe(recipe.static_wi8_ai8())
        scopes = tflite_tail_scopes(src)
        for scope in scopes:
            qt.update_quantization_recipe(regex="^" + re.escape(scope) + "$", operation_name="*",
                                          algorithm_key="no_quantize")  # fmt: skip
        # the graph's outputs stay float32 too (its int8 input is exact: pixels / 255 or 0-255)
        qt.update_quantization_recipe(regex=".*", operation_name="OUTPUT",
                                      algorithm_key="no_quantize")  # fmt: skip
    result = qt.calibrate({"serving_default": [{"args_0": x} for x in calib]}) if calib else None
    qt.quantize(result).export_model(str(out), overwrite=True)
    version = getattr(aeq, "__version__", "")
    kind = "fp16 weights" if calib is None else "static int8"
    return {"tool": f"ai-edge-quantizer {version} ({kind})".replace("  ", " "),
            "float_ops": len(scopes)}  # fmt: skip


def int8_accuracy(
    ref: Path, int8: Path, data: str | Path, imgsz: int, device: str = "cpu", batch: int = 16
) -> dict[str, float]:
    """AP and AP50 of the FP32 and the INT8 file on the val split of data (same protocol)."""
    from ..data.load import load_dataset
    from ..engine.validator import validate
    from .runtime import load_exported

    dataset = load_dataset(data, "val")
    out: dict[str, float] = {}
    for key, path in (("fp32", ref), ("int8", int8)):
        runtime = load_exported(path, device)
        stats = validate(runtime, dataset, imgsz, batch, runtime.eval_protocol).metrics.stats
        out[f"{key}_AP"], out[f"{key}_AP50"] = float(stats["AP"]), float(stats["AP50"])
    out["drop_AP"] = out["fp32_AP"] - out["int8_AP"]
    out["drop_AP50"] = out["fp32_AP50"] - out["int8_AP50"]
    out["images"] = float(len(dataset))
    return out
