"""Exported files as Detectors: the same predict/val API on ONNX Runtime, OpenVINO, TorchScript,
TensorRT, LiteRT (TFLite) and CoreML (macOS). Names, preprocessing and NMS defaults come from the
file's metadata; `precision` says what the file holds and, for OpenVINO, what the CPU computes in
(f32, bf16 or f16: a runtime choice)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import threads as thread_policy
from ..devices import select_device
from ..errors import YoloArenaError
from ..models.base import Detector, EvalProtocol, HeadOutput, PostprocessDefaults
from ..models.segmenter import SegDetections
from ..models.transform import DetectTransform
from .formats import quiet_tracing, require
from .meta import META_KEY, loads

SUFFIXES = {".onnx": "onnx", ".torchscript": "torchscript", ".engine": "engine", ".xml": "openvino",
            ".tflite": "tflite", ".mlpackage": "coreml"}  # fmt: skip
PRECISIONS = ("f32", "bf16", "f16")  # OpenVINO's inference precision on CPU


def backend_of(path: Path) -> str | None:
    """The runtime a path needs, or None when it is not an exported model."""
    if path.suffix.lower() == ".mlpackage":
        return "coreml"
    if path.is_dir():
        return "openvino" if (path / "model.xml").is_file() else None
    return SUFFIXES.get(path.suffix.lower())


class NMSOutput(HeadOutput):
    """Output of a graph with NMS inside: detections per image, already final (segmentation:
    with each detection's mask coefficients and the prototypes)."""

    def __init__(
        self,
        dets: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        coefficients: list[torch.Tensor] | None = None,
        prototypes: torch.Tensor | None = None,
    ) -> None:
        super().__init__(levels=[], prototypes=prototypes)
        self.dets = dets
        self.coefficients = coefficients


class RuntimeDetector(Detector):
    """An exported model behind the Detector API (inference only)."""

    def __init__(self, session: Any, meta: dict[str, Any], source: str) -> None:
        self.dynamic = bool(meta.get("dynamic"))
        h, w = meta["imgsz"]
        transform = DetectTransform.from_meta(meta["preprocess"], max(meta["stride"]), h)
        if not self.dynamic:
            transform = (
                transform.square()
            )  # fixed input: every image letterboxed to the export size
        super().__init__(meta["num_classes"], meta["stride"], meta["names"], transform, h)
        if h != w:
            raise YoloArenaError(f"'{source}' has a non-square input {h}x{w}; not supported yet")
        self.family = meta["family"]
        self.task = meta.get("task") or "detect"  # segment: outputs carry masks
        self.model_name = meta.get("model_name", "")
        self.meta, self.session, self.source = meta, session, source
        self.backend = meta["format"]
        self.precision = getattr(session, "precision", None) or file_precision(meta)
        self.batch = int(meta.get("batch", 1))
        self.predict_defaults = PostprocessDefaults(**meta.get("predict_defaults", {}))
        proto = EvalProtocol(**meta.get("eval_protocol", {}))
        self.eval_protocol = proto if self.dynamic else replace(proto, rect=False)
        self.deployed = True

    @property
    def device(self) -> torch.device:
        return self.session.device

    def deploy(self) -> RuntimeDetector:
        return self

    def forward(self, images: torch.Tensor, return_features: bool = False):
        if not self.dynamic and tuple(images.shape[2:]) != tuple(self.meta["imgsz"]):
            raise YoloArenaError(
                f"'{self.source}' was exported for {self.meta['imgsz']} input, got "
                f"{list(images.shape[2:])}; use imgsz={self.imgsz} or export with dynamic=True"
            )
        outs = self._run_chunks(images)
        names = self.meta["outputs"]
        named = dict(zip(names, outs, strict=True))
        if "num_dets" in named:
            num = [int(n) for n in named["num_dets"].reshape(-1).tolist()]
            boxes, scores, labels = named["det_boxes"], named["det_scores"], named["det_labels"]
            coef = named.get("det_coefficients")
            return NMSOutput(
                [(boxes[i, :n], scores[i, :n], labels[i, :n].long()) for i, n in enumerate(num)],
                None if coef is None else [coef[i, :n] for i, n in enumerate(num)],
                named.get("prototypes"),
            )
        return HeadOutput([], named["boxes"], named["scores"], named.get("objectness"),
                          named.get("mask_coefficients"), named.get("prototypes"))  # fmt: skip

    def _run_chunks(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feed a fixed-batch file in chunks of its batch size (the last one padded)."""
        n = images.shape[0]
        if self.dynamic or n == self.batch:
            return self.session(images)
        parts = []
        for i in range(0, n, self.batch):
            chunk = images[i : i + self.batch]
            k = chunk.shape[0]
            if k < self.batch:
                chunk = torch.cat((chunk, chunk[:1].expand(self.batch - k, -1, -1, -1)), 0)
            parts.append([o[:k] for o in self.session(chunk)])
        return [torch.cat(p, 0) for p in zip(*parts, strict=True)]

    @torch.no_grad()
    def postprocess(self, output: HeadOutput, conf: float = 0.25, *args: Any, **kwargs: Any):
        if not isinstance(output, NMSOutput):
            return super().postprocess(output, conf, *args, **kwargs)
        results = []
        for boxes, scores, labels in output.dets:  # NMS ran in the graph; only filter further
            keep = _keep(scores, labels, conf, kwargs.get("classes"))
            results.append((boxes[keep], scores[keep], labels[keep]))
        return results

    @torch.no_grad()
    def postprocess_segments(self, output: HeadOutput, conf: float = 0.25, *args, **kwargs):
        if not isinstance(output, NMSOutput):
            return super().postprocess_segments(output, conf, *args, **kwargs)
        if output.coefficients is None or output.prototypes is None:
            raise YoloArenaError(f"'{self.source}' has no mask outputs; export it again")
        out = []
        for (boxes, scores, labels), coef, protos in zip(
            output.dets, output.coefficients, output.prototypes, strict=True
        ):
            keep = _keep(scores, labels, conf, kwargs.get("classes"))
            out.append(SegDetections(boxes[keep], scores[keep], labels[keep], coef[keep], protos))
        return out

    def metadata(self) -> dict[str, Any]:
        return dict(self.meta)

    def extra_repr(self) -> str:
        return f"backend={self.backend}, precision={self.precision}, source={self.source}"


def _keep(scores: torch.Tensor, labels: torch.Tensor, conf: float, classes) -> torch.Tensor:
    keep = scores > conf
    if classes is not None:
        keep &= torch.isin(labels, torch.as_tensor(list(classes)))
    return keep


def precision_of(model: Detector, half: bool = False) -> str:
    """The precision a model runs in, for the record: an exported file's, else PyTorch's."""
    text = getattr(model, "precision", None)
    if text:
        return text
    return "fp16 autocast" if half and model.device.type == "cuda" else "fp32"


def file_precision(meta: dict[str, Any]) -> str:
    """What the file stores: int8, fp16 or fp32."""
    return "int8" if meta.get("int8") else "fp16" if meta.get("half") else "fp32"


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """A runtime's output as a tensor: floats as float32, integers as int64."""
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.float() if t.is_floating_point() else t.long()


class OnnxSession:
    device = torch.device("cpu")

    def __init__(self, path: Path, device: torch.device, threads: int | None = None) -> None:
        ort = require("onnxruntime", "Running ONNX models")
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        opts = thread_policy.onnxruntime_options(ort)  # thread count and waiting for the CPU load
        if threads:  # a fixed count (the benchmark's workers) wins over the policy
            opts.intra_op_num_threads = threads
        try:
            self.sess = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as e:
            raise YoloArenaError(f"'{path}' is not a loadable ONNX model: {e}") from None
        props = self.sess.get_modelmeta().custom_metadata_map
        self.meta = loads(props.get(META_KEY, ""), str(path))
        self.input = self.sess.get_inputs()[0].name
        self.dtype = np.float16 if "float16" in self.sess.get_inputs()[0].type else np.float32

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        arr = x.detach().cpu().contiguous().numpy().astype(self.dtype, copy=False)
        return [_tensor(o) for o in self.sess.run(None, {self.input: arr})]


class OpenVINOSession:
    device = torch.device("cpu")

    def __init__(
        self,
        folder: Path,
        device: torch.device,
        precision: str | None = None,
        threads: int | None = None,
    ) -> None:
        ov = require("openvino", "Running OpenVINO models")
        xml = folder / "model.xml"
        meta_file = folder / f"{META_KEY}.json"
        if not meta_file.is_file():
            raise YoloArenaError(f"'{folder}' has no {meta_file.name}; export it with yoloarena")
        self.meta = loads(meta_file.read_text(), str(folder))
        core = ov.Core()
        try:
            model = core.read_model(str(xml))
        except Exception as e:
            raise YoloArenaError(f"'{xml}' is not a readable OpenVINO IR: {e}") from None
        hint = inference_precision(precision, self.meta, core.get_property("CPU",
                                   "OPTIMIZATION_CAPABILITIES"))  # fmt: skip
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
        config.update(thread_policy.openvino_config())  # thread count and pinning for the load
        if threads:  # a fixed count (the benchmark's workers) wins over the policy
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        used = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        used = getattr(used, "get_type_name", lambda: str(used))().lower()
        used = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(used, used)
        self.precision = f"{file_precision(self.meta)} IR, {used} compute"

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        res = self.request.infer({0: x.detach().cpu().contiguous().numpy()})
        return [_tensor(np.array(res[o])) for o in self.compiled.outputs]


def inference_precision(precision: str | None, meta: dict[str, Any], caps: list[str]) -> str:
    """OpenVINO's CPU inference precision: the one asked for (f32, bf16, f16; half: the CPU's
    16-bit float), else f32 for an FP32 or INT8 IR and f16 for an FP16 IR where the CPU has it.

    Pinned explicitly: the plugin's default is bf16 on CPUs with AMX/AVX512-BF16."""
    text = str(precision or "").strip().lower()
    text = {"fp32": "f32", "fp16": "f16", "bfloat16": "bf16", "half": "half"}.get(text, text)
    if text == "half":
        text = "f16" if "FP16" in caps else "bf16" if "BF16" in caps else ""
        if not text:
            raise YoloArenaError("half=True on OpenVINO needs a CPU with FP16 or BF16 compute; "
                                 "this one has neither: use precision=f32")  # fmt: skip
    if not text:
        return "f16" if meta.get("half") and "FP16" in caps else "f32"
    if text not in PRECISIONS:
        raise YoloArenaError(f"precision={precision} is not one of {', '.join(PRECISIONS)}")
    need = {"bf16": "BF16", "f16": "FP16"}.get(text)
    if need and need not in caps:
        raise YoloArenaError(
            f"precision={text} needs a CPU with {need} compute; this one offers "
            f"{', '.join(c for c in caps if c in ('FP32', 'BF16', 'FP16'))}"
        )
    return text


class TorchScriptSession:
    def __init__(self, path: Path, device: torch.device) -> None:
        files = {f"{META_KEY}.json": ""}
        try:
            with quiet_tracing():
                self.module = torch.jit.load(str(path), map_location=device, _extra_files=files)
        except Exception as e:
            raise YoloArenaError(f"'{path}' is not a loadable TorchScript file: {e}") from None
        self.meta = loads(files[f"{META_KEY}.json"], str(path))
        self.device = device
        self.half = bool(self.meta.get("half"))

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.to(self.device)
        with torch.inference_mode():
            outs = self.module(x.half() if self.half else x)
        return [o.float() if o.is_floating_point() else o for o in outs]


class TensorRTSession:
    def __init__(self, path: Path, device: torch.device) -> None:
        if device.type != "cuda":
            raise YoloArenaError(f"'{path}' is a TensorRT engine: it needs device=0 (CUDA)")
        trt = require("tensorrt", "Running TensorRT engines", "pip install tensorrt")
        blob = path.read_bytes()
        n = int.from_bytes(blob[:4], "little", signed=True)
        self.meta = loads(blob[4 : 4 + n], str(path))
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(blob[4 + n :])
        if self.engine is None:
            raise YoloArenaError(f"'{path}' is not a TensorRT engine this TensorRT can load")
        self.context = self.engine.create_execution_context()
        self.device, self.trt = device, trt
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        trt, ctx = self.trt, self.context
        x = x.to(self.device).contiguous()
        inp = self.names[0]
        if self.engine.get_tensor_dtype(inp) == trt.float16:
            x = x.half()
        ctx.set_input_shape(inp, tuple(x.shape))
        ctx.set_tensor_address(inp, x.data_ptr())
        outs = []
        for name in self.names[1:]:
            dtype = torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name))))
            out = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=dtype.dtype, device=x.device)
            ctx.set_tensor_address(name, out.data_ptr())
            outs.append(out)
        stream = torch.cuda.current_stream(self.device)
        ctx.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return [o.float() if o.is_floating_point() else o for o in outs]


def _sessions() -> dict[str, Any]:
    from .coreml import CoreMLSession
    from .tflite import TFLiteSession

    return {
        "onnx": OnnxSession,
        "openvino": OpenVINOSession,
        "torchscript": TorchScriptSession,
        "engine": TensorRTSession,
        "tflite": TFLiteSession,
        "coreml": CoreMLSession,
    }


def load_exported(
    path: str | Path,
    device: torch.device | str = "cpu",
    precision: str | None = None,
    threads: int | None = None,
) -> RuntimeDetector:
    """A RuntimeDetector for an exported file (.onnx, .torchscript, .engine, .tflite,
    .mlpackage, an OpenVINO folder). precision: OpenVINO's inference precision (f32, bf16, f16,
    or half: the CPU's 16-bit float); other runtimes compute as their file says. threads: ONNX
    Runtime's and OpenVINO's intra-op threads (None: the runtime's default; TorchScript and
    LiteRT take torch's thread count)."""
    path = Path(path)
    if path.suffix == ".xml":
        path = path.parent
    backend = backend_of(path)
    if backend is None:
        raise YoloArenaError(f"'{path}' is not an exported model ({', '.join(SUFFIXES)})")
    if path.is_file() and path.stat().st_size == 0:
        raise YoloArenaError(f"'{path}' is empty (0 bytes); export it again")
    if precision and backend != "openvino":
        raise YoloArenaError(
            f"precision={precision} applies to OpenVINO files; '{path}' runs as its file says "
            f"({backend})"
        )
    factory = _sessions()[backend]
    dev = select_device(device)
    if backend == "openvino":
        session = factory(path, dev, precision, threads)
    elif backend == "onnx":
        session = factory(path, dev, threads)
    else:
        session = factory(path, dev)
    if session.meta.get("task") == "classify":
        from .classify import RuntimeClassifier

        return RuntimeClassifier(session, session.meta, str(path))  # type: ignore[return-value]
    return RuntimeDetector(session, session.meta, str(path))
